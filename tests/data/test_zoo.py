"""The zoo (`generate --profile`): every profile generates a prepared dataset with its truth
and a binning that fits its columns; each profile's change is the one it says."""

import json

import numpy as np
import pandas as pd
import pytest

from study.binning import BinningSpec
from study.cli.commands import main
from study.data import synthetic, zoo
from study.data.dataset import open_dataset

EXPECTED = {  # profile: (features, flags, accepted fraction range on 20,000 rows)
    "default": (12, 4, (0.42, 0.47)), "small": (12, 4, (0.42, 0.47)),
    "large": (12, 4, (0.42, 0.47)), "few": (6, 0, (0.42, 0.47)),
    "many": (30, 6, (0.42, 0.47)), "rare": (12, 4, (0.02, 0.04)),
    "sharp": (12, 4, (0.42, 0.47)), "smooth": (12, 4, (0.40, 0.46)),
    "flags": (22, 14, (0.35, 0.41)),
}  # fmt: skip


def test_every_profile_is_tested():
    assert set(EXPECTED) == set(zoo.PROFILES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_profile_generates_with_its_truth_and_binning(name, tmp_path, capsys):
    out = tmp_path / name
    assert main(["generate", "--profile", name, "--rows", "20000", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    dataset = open_dataset(out)
    features, flags, (low, high) = EXPECTED[name]
    assert len(dataset.features) == features
    assert len(dataset.preprocessing.flags) == flags
    truth = np.concatenate(
        [getattr(dataset, s).to_pandas([synthetic.TRUTH])[synthetic.TRUTH] for s in
         ("train", "validation", "test")]
    )  # fmt: skip
    labels = np.concatenate(
        [getattr(dataset, s).to_numpy()[1][:, 0] for s in ("train", "validation", "test")]
    )
    assert len(truth) == 20_000 and truth.min() >= 0.0 and truth.max() <= 1.0
    assert low < labels.mean() < high
    assert abs(labels.mean() - truth.mean()) < 4 * np.sqrt(0.25 / 20_000)  # labels ~ truth
    bayes = synthetic.bayes_cross_entropy(truth)
    assert f"bayes_cross_entropy    {bayes:.4f}"[:-1] in printed  # printed, 4 digits
    binning = BinningSpec.from_dict(json.loads((out / "validation_bins.json").read_text()))
    assert binning.columns() <= set(dataset.features)
    assert f"--validation-bins {out / 'validation_bins.json'}" in printed


def test_the_default_profile_is_the_embedded_sample_unchanged():
    a = pd.concat(zoo.generate(zoo.PROFILES["default"], 3_000, seed=4, chunk_size=1_000))
    b = pd.concat(synthetic.generate(3_000, seed=4, chunk_size=1_000))
    pd.testing.assert_frame_equal(a, b)


def test_rows_default_to_the_profile_s():
    assert zoo.PROFILES["small"].rows == 50_000
    assert zoo.PROFILES["large"].rows == 10_000_000
    assert zoo.PROFILES["default"].rows == 2_500_000


def test_few_features_truth_is_the_average_over_hidden_species_and_charge():
    """The kept-feature truth averages the full truth over species and charge: on the same
    kinematics, its mean matches the mean of the truth with the species drawn."""
    rng = np.random.default_rng(9)
    frame = pd.DataFrame(synthetic._kinematics(rng, 40_000))
    full = synthetic.true_probability(frame)
    hidden = zoo._hidden_species(frame.copy(), rng)[synthetic.TRUTH].to_numpy()
    assert abs(full.mean() - hidden.mean()) < 0.01
    # one particle by hand: the average of its six (species, charge) classes
    one = frame.iloc[:1]
    by_hand = sum(
        0.5 * share * synthetic.true_probability(
            one.assign(mc_is_e=e, mc_is_mu=mu, mc_is_h=h, mc_charge=q))[0]
        for (e, mu, h), share in zoo.CLASSES.items() for q in (-1.0, 1.0)
    )  # fmt: skip
    assert hidden[0] == pytest.approx(by_hand, rel=1e-12)


def test_a_dead_module_removes_its_share_in_its_octant_only():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(synthetic._kinematics(rng, 5_000))
    base = synthetic.true_probability(frame)
    out = zoo._flags(frame.copy(), np.random.default_rng(4))
    octant = ((frame["mc_phi"] + np.pi) // (np.pi / 4)).clip(0, 7).astype(int).to_numpy()
    dead = out[zoo.DEAD].to_numpy()[np.arange(5_000), octant] > 0.5
    np.testing.assert_allclose(out[synthetic.TRUTH][dead], 0.4 * base[dead], rtol=1e-12)
    np.testing.assert_allclose(out[synthetic.TRUTH][~dead], base[~dead], rtol=1e-12)


def test_sharp_and_smooth_scale_the_resolutions():
    """At a box edge the truth is steeper with `smear` 0.2 and flatter with 4."""
    frame = pd.DataFrame(synthetic._kinematics(np.random.default_rng(5), 50_000))
    sharp, default, smooth = (synthetic.true_probability(frame, s) for s in (0.2, 1.0, 4.0))
    middle = lambda p: np.mean((p > 0.1) & (p < 0.9))  # noqa: E731 (rows near a boundary)
    assert middle(sharp) < middle(default) < middle(smooth)
