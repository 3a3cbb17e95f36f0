import numpy as np
import pandas as pd
import pytest

from study.data import synthetic


@pytest.fixture(scope="module")
def sample():
    return pd.concat(synthetic.generate(300_000, seed=1, chunk_size=100_000), ignore_index=True)


def test_truth_is_honest_in_20_bins(sample):
    p, y = sample[synthetic.TRUTH].to_numpy(), sample[synthetic.LABEL].to_numpy()
    edges = np.linspace(0, 1, 21)
    index = np.clip(np.digitize(p, edges) - 1, 0, 19)
    checked = 0
    for k in range(20):
        in_bin = index == k
        n = in_bin.sum()
        if n < 30:
            continue
        mean_p = p[in_bin].mean()
        sigma = np.sqrt(max(mean_p * (1 - mean_p), 1e-6) / n)
        assert abs(y[in_bin].mean() - mean_p) < 3 * sigma + 1e-9, (k, n, y[in_bin].mean(), mean_p)
        checked += 1
    assert checked >= 18


def test_calibration_in_the_design_ranges(sample):
    assert 0.25 <= sample[synthetic.LABEL].mean() <= 0.50
    assert 0.10 <= synthetic.bayes_cross_entropy(sample[synthetic.TRUTH]) <= 0.20


def test_columns_and_flags(sample):
    assert list(sample.columns) == synthetic.FEATURES + [synthetic.TRUTH, synthetic.LABEL]
    flags = sample[["mc_is_e", "mc_is_mu", "mc_is_h"]].to_numpy()
    np.testing.assert_array_equal(flags.sum(axis=1), 1.0)
    assert set(np.unique(sample["mc_charge"])) == {-1.0, 1.0}
    assert sample["mc_is_h"].mean() == pytest.approx(0.90, abs=0.01)


def test_seeded_and_chunk_reproducible():
    a = pd.concat(synthetic.generate(5_000, seed=4, chunk_size=2_000))
    b = pd.concat(synthetic.generate(5_000, seed=4, chunk_size=2_000))
    c = pd.concat(synthetic.generate(5_000, seed=5, chunk_size=2_000))
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["mc_eta"], c["mc_eta"])
    assert [len(f) for f in synthetic.generate(5_000, 0, 2_000)] == [2_000, 2_000, 1_000]


def test_physics_limits():
    """Outside the eta range nothing is accepted; stiff central tracks almost always are."""
    frame = pd.concat(synthetic.generate(50_000, seed=2))
    p = frame[synthetic.TRUTH]
    assert p[frame["mc_eta"] < 1.5].max() < 1e-3  # outside the magnet's window
    assert p[frame["mc_eta"] > 6.0].mean() < 0.1  # mostly inside the beam-pipe hole
    stiff = (
        (frame["mc_eta"].between(2.5, 4.0)) & (frame["mc_log10_p"] > 4.3) & (frame["mc_is_mu"] > 0)
    )
    stiff &= frame["mc_z"].abs() < 100
    assert p[stiff].mean() > 0.95


def test_bayes_cross_entropy_hand_values():
    assert synthetic.bayes_cross_entropy(np.array([0.0, 1.0])) == pytest.approx(0.0, abs=1e-9)
    assert synthetic.bayes_cross_entropy(np.array([0.5])) == pytest.approx(np.log(2))
