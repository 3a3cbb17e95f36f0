"""Histogram, chi-square and truth metrics on hand-made inputs."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from study.best import histograms as hi
from study.best import validation as v
from study.best import validation_plots as vp


def test_weighted_storage_hand_values():
    """hist's Weight storage: sums of the weights and of their squares, per bin."""
    h = hi.filled([hi.axis([0, 1, 2, 3])], [[0.5, 1.5, 1.6, 2.5]], [0.2, 0.5, 0.25, 1.0])
    np.testing.assert_allclose(h.values(), [0.2, 0.75, 1.0])
    np.testing.assert_allclose(h.variances(), [0.04, 0.3125, 1.0])
    counts = hi.filled([hi.axis([0, 1, 2, 3])], [[0.5, 1.5, 1.6, 9.0]])  # 9.0: overflow
    np.testing.assert_allclose(counts.values(), [1, 2, 0])
    np.testing.assert_allclose(counts.variances(), [1, 2, 0])
    assert counts.values(flow=True).tolist() == [0, 1, 2, 0, 1]


def test_populations_and_a_kinematic_bin_are_slices_of_the_same_histograms():
    # two slices (x < 1, 1 <= x < 2) x two bins of v; four particles
    x, v_, label, prob = (
        [0.5, 0.5, 1.5, 1.5],
        [0.2, 0.7, 0.2, 0.2],
        [1, 0, 1, 1],
        [0.8, 0.4, 0.5, 0.9],
    )
    plane = hi.populations([hi.axis([0, 1, 2], "slice"), hi.axis([0, 0.5, 1], "v")], [x, v_],
                           label, prob)  # fmt: skip
    second = hi.compare({k: h[1, :] for k, h in plane.items()})
    assert second["generated"] == [2, 0] and second["accepted"] == [2, 0]
    np.testing.assert_allclose(second["weighted"], [1.4, 0])
    np.testing.assert_allclose(second["weighted_variance"], [0.25 + 0.81, 0])
    np.testing.assert_allclose(second["null_variance"], [0.25 + 0.09, 0])  # q (1 - q)
    # the chi-square from the same objects: null variance 0.34 < 5, no group can be scored
    assert second["ndf"] == 0 and np.isnan(second["chi2_ndf"]) and second["sparse"] == 1
    assert second["hists"]["weighted"].values().tolist() == second["weighted"]
    first = hi.compare({k: h[0, :] for k, h in plane.items()})
    assert first["generated"] == [1, 1] and first["efficiency_true"] == 0.5
    assert first["efficiency_model"] == pytest.approx(0.6)
    assert "hists" not in hi.json_ready({"a": [first]})["a"][0]


def test_chi2_hand_values_and_empty_bins_skipped():
    # bin 1: (4 - 2)^2 / (4 + 0.5) ; bin 2: (1 - 2)^2 / (1 + 1) ; bin 3 empty: skipped
    chi2_ndf, ndf = hi.chi2_per_ndf([4, 1, 0], [4, 1, 0], [2, 2, 0], [0.5, 1, 0])
    assert ndf == 2
    assert chi2_ndf == pytest.approx((4 / 4.5 + 1 / 2) / 2)
    assert np.isnan(hi.chi2_per_ndf([0], [0], [0], [0])[0])


def test_agreement_hand_values_merge_sparse_sub_bins():
    """(c) Sub-bins (generated, accepted, weighted, null variance): 0 (10, 4, 2, 1.6) and
    1 (20, 6, 8, 4) are below 5 alone, 1.6 + 4 = 5.6 closes a group: (10 - 10)^2 / 5.6 = 0;
    2 is empty; 3 (30, 21, 15, 7.5) is a group alone; 4 (12, 5, 9, 2.25) is a short
    remainder and joins it: (26 - 24)^2 / 9.75. chi2/ndf = (0 + 4 / 9.75) / 2."""
    columns = ([10, 20, 0, 30, 12], [4, 6, 0, 21, 5], [2, 8, 0, 15, 9], [1.6, 4, 0, 7.5, 2.25])
    assert hi.merged_groups(columns[0], columns[3]) == [[0, 1], [3, 4]]
    chi2_ndf, ndf, sparse = hi.agreement(*columns)
    assert (ndf, sparse) == (2, 3)  # sparse: sub-bins 0, 1 and 4
    assert chi2_ndf == pytest.approx(2 / 9.75)
    # sub-bin by sub-bin (no merging): (2^2 / 1.6 + 2^2 / 4 + 6^2 / 7.5 + 4^2 / 2.25) / 4
    chi2_ndf, ndf, sparse = hi.agreement(*columns, least=1.0)
    assert (ndf, sparse) == (4, 0)
    assert chi2_ndf == pytest.approx((2.5 + 1 + 4.8 + 16 / 2.25) / 4)
    # a bin whose whole null variance is below 5: no chi-square, flagged
    chi2_ndf, ndf, sparse = hi.agreement([10], [3], [2], [1.6])
    assert np.isnan(chi2_ndf) and (ndf, sparse) == (0, 1)


def _binomial(m: dict) -> float:
    """The same-sample chi2/ndf sub-bin by sub-bin, without the sparse rule."""
    zeros = np.zeros(len(m["weighted"]))
    return hi.chi2_per_ndf(m["accepted"], m["null_variance"], m["weighted"], zeros)[0]


def _both_variances(m: dict) -> float:
    """The old chi2/ndf, with the variances of both the counts and the weighted sums."""
    args = (m["accepted"], m["accepted_variance"], m["weighted"], m["weighted_variance"])
    return hi.chi2_per_ndf(*args)[0]


def _hand_bin(name: str, probs: list[float], accepted: list[int]) -> dict:
    """A kinematic bin of three sub-bins of 100 particles each, sub-bin k's particles with
    probability probs[k], accepted[k] of them accepted."""
    x = np.repeat([0.5, 1.5, 2.5], 100)
    prob = np.repeat(probs, 100)
    label = np.concatenate([np.arange(100) < a for a in accepted]).astype(float)
    m = v.compare_populations(x, label, prob, [0, 1, 2, 3])
    m.update(particle=name, p_low=1.0, p_high=2.0, variable="eta")
    return m


def test_a_sparse_bin_is_never_ranked_above_a_bad_one(capsys):
    """(b) "sparse": 100 particles at q = 0.01, none accepted (expected 1, null variance
    0.99), beside two sub-bins that agree: the old figure 1^2 / (0 + 100 * 0.01^2) / 3 = 33,
    sub-bin by sub-bin 1 / 0.99 / 3 = 0.34; merged with its neighbour: (20 - 21)^2 / 16.99
    over 2 groups. "bad": q = 0.5, accepted 70, 65, 50 of 100: (20^2 + 15^2) / 25 / 3."""
    from study.best.card import FinalMetrics
    from study.best.pipeline import print_summary

    sparse = _hand_bin("sparse", [0.01, 0.2, 0.5], [0, 20, 50])
    bad = _hand_bin("bad", [0.5, 0.5, 0.5], [70, 65, 50])
    assert _both_variances(sparse) == pytest.approx(100 / 3) and _binomial(sparse) < 2
    assert _both_variances(bad) < _both_variances(sparse)  # the old ranking: sparse first
    assert sparse["chi2_ndf"] == pytest.approx(1 / 16.99 / 2) and sparse["sparse"] == 1
    assert bad["chi2_ndf"] == pytest.approx(25 / 3) and bad["sparse"] == 0
    hopeless = _hand_bin("hopeless", [0.01, 0.01, 0.01], [3, 0, 0])  # null variance 2.97
    assert _binomial(hopeless) > 1 and hopeless["ndf"] == 0
    ranked = v.worst_bins({"kinematic_bins": [sparse, hopeless, bad]})
    assert [m["particle"] for m in ranked] == ["bad", "sparse"]
    assert not [m for m in ranked if m["chi2_ndf"] > 10 and _binomial(m) < 2]
    print_summary(FinalMetrics(model_cross_entropy=0.5, kinematic_bins=[sparse, hopeless, bad]),
                  ranked)  # fmt: skip
    rows = capsys.readouterr().out.splitlines()
    assert rows[2].split() == ["bad", "1-2", "eta", "8.33", "3", "0.6167", "0.5000"]
    assert rows[3].split() == ["sparse", "1-2", "eta", "0.03", "2", "1", "0.2333", "0.2367"]
    assert rows[4] == "(1 kinematic bins too sparse for a chi-square: not ranked)"


def test_ratio_and_efficiencies():
    np.testing.assert_allclose(hi.ratio([1, 2, 3], [2, 0, 3]), [0.5, np.nan, 1.0])
    out = v.compare_populations(
        [0.1, 0.2, 0.7, 0.8], [1, 0, 1, 1], [0.5, 0.5, 1.0, 0.5], [0, 0.5, 1]
    )
    assert out["generated"] == [2, 2] and out["accepted"] == [1, 2]
    assert out["weighted"] == [1.0, 1.5]
    assert out["efficiency_true"] == 0.75 and out["efficiency_model"] == 0.625


@pytest.fixture(scope="module")
def truth_sample():
    from study.data import synthetic

    frame = pd.concat(synthetic.generate(200_000, seed=21), ignore_index=True)
    return frame


def test_true_probability_scores_no_excess_and_chi2_near_one(truth_sample):
    """(a) Labels drawn from the true probability, scored with it on the default binning:
    the ranking statistic's median over the kinematic bins is ~1, and no bin is an outlier
    only because it is sparse."""
    f = truth_sample
    truth, label = f["true_probability"].to_numpy(), f["acceptance"].to_numpy()
    metrics = v.validate(f, label, truth, ["mc_log10_p", "mc_eta"], truth=truth)
    assert metrics["truth"]["excess"] == pytest.approx(0.0, abs=1e-9)
    assert abs(metrics["truth"]["excess_on_labels"]) < 1e-12
    bins = metrics["kinematic_bins"]
    ranked = v.worst_bins(metrics, len(bins))
    assert len(bins) == 36 and len(ranked) > len(bins) / 2
    assert 0.8 < np.median([m["chi2_ndf"] for m in ranked]) < 1.3
    assert ranked[0]["chi2_ndf"] < 5
    assert not [m for m in ranked if m["chi2_ndf"] > 10 and _binomial(m) < 2]
    assert metrics["features"]["mc_eta"]["chi2_ndf"] < 2.0

    constant = np.full_like(truth, label.mean())
    worse = v.validate(f, label, constant, ["mc_eta"], truth=truth)
    assert worse["truth"]["excess"] > 0.2
    ranked = v.worst_bins(worse, len(bins))
    assert np.median([m["chi2_ndf"] for m in ranked]) > 20
    assert worse["features"]["mc_eta"]["chi2_ndf"] > 50


def test_kinematic_bins_cover_types_and_momentum_edges(truth_sample):
    f = truth_sample.iloc[:20_000]
    bins = v.kinematic_bins(f, f["acceptance"].to_numpy(), f["true_probability"].to_numpy())
    assert len(bins) == 3 * (len(v.LHCB.slice_edges) - 1) * 2
    assert {b["particle"] for b in bins} == {"hadron", "muon", "electron"}
    assert (
        v.worst_bins({"kinematic_bins": bins}, 3)[0]["chi2_ndf"]
        >= v.worst_bins({"kinematic_bins": bins}, 3)[-1]["chi2_ndf"]
    )


def test_kinematic_bins_skipped_without_default_columns():
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    assert v.kinematic_bins(frame, np.array([0, 1]), np.array([0.5, 0.5])) == []


def test_drawing_writes_pngs(truth_sample, tmp_path):
    f = truth_sample.iloc[:5_000]
    t = f["true_probability"].to_numpy()
    metrics = v.validate(f, f["acceptance"].to_numpy(), t, ["mc_eta", "mc_phi"], truth=t)
    paths = v.draw_validation(metrics, tmp_path)
    assert {p.name for p in paths} >= {
        "labels_vs_prediction.png",
        "features.png",
        "hadron_mc_eta.png",
        "calibration.png",
    }
    assert all(p.stat().st_size > 1000 for p in paths)
    worst = sorted(p.name for p in (tmp_path / "worst").glob("*.png"))
    expected = v.worst_bins(metrics, 6)
    assert worst == [vp.worst_name(k, m) for k, m in enumerate(expected, start=1)]
    assert [m["chi2_ndf"] for m in expected] == sorted((m["chi2_ndf"] for m in expected),
                                                        reverse=True)  # fmt: skip


def test_kinematic_bins_follow_a_spec_with_other_column_names():
    from study.binning import BinningSpec

    spec = BinningSpec.from_dict(
        {
            "slice": {"column": "pt", "edges": [0, 1, 2], "label": "pT [GeV/c]"},
            "variables": {"eta": [-1, 1, 2]},
            "species": {"pion": "is_pi"},
        }
    )
    physical = pd.DataFrame(
        {"pt": [0.5, 1.5, 1.5, 3.0], "eta": [0.1, 0.2, -0.3, 0.4], "is_pi": [1, 1, 0, 1]}
    )
    label, prob = np.array([1.0, 0.0, 1.0, 1.0]), np.full(4, 0.5)
    bins = v.kinematic_bins(physical, label, prob, spec)
    assert [(b["particle"], b["p_low"], b["p_high"], b["variable"]) for b in bins] == [
        ("pion", 0.0, 1.0, "eta"),
        ("pion", 1.0, 2.0, "eta"),
    ]
    assert bins[0]["generated"] == [0.0, 1.0] and bins[0]["accepted"] == [0.0, 1.0]
    assert bins[0]["weighted"] == [0.0, 0.5]
    assert bins[1]["generated"] == [0.0, 1.0] and bins[1]["accepted"] == [0.0, 0.0]
    # no species: every row is one species, "all"
    spec_all = BinningSpec.from_dict({**spec.to_dict(), "species": {}})
    assert [b["entries"] for b in v.kinematic_bins(physical, label, prob, spec_all)] == [1, 2]
    # the default (LHCb) spec on these columns: skipped, not failed
    assert v.kinematic_bins(physical, label, prob) == []


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"slice": {"column": "pt", "edges": [2, 1]}, "variables": {"eta": [-1, 1, 2]}},
         "slice edges must increase"),
        ({"variables": {"eta": [-1, 1, 2]}}, "failed at KeyError('slice')"),
        ({"slice": {"column": "pt", "edges": [0, 1]}, "variables": {"eta": [1, -1, 2]}},
         "low < high"),
    ],
)  # fmt: skip
def test_a_bad_binning_spec_says_what_is_wrong(raw, message):
    from study.binning import BinningSpec
    from study.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        BinningSpec.from_dict(raw)


def test_validation_bins_flag_errors_in_one_line(tmp_path, capsys):
    from study.cli import main

    code = main(["--validation-bins", "{not json", "--results", str(tmp_path), "--trials", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [err.strip()] and "not a JSON file or object" in err


@pytest.mark.parametrize(
    "species, variable",
    [("../x", "eta"), ("/etc/x", "eta"), ("a/b", "eta"), ("..", "eta"), (".hidden", "eta"),
     ("pi on", "eta"), ("pion", "../eta"), ("pion", "eta/x")],
)  # fmt: skip
def test_a_species_or_variable_that_is_no_plain_file_name_is_refused(
    tmp_path, capsys, species, variable
):
    from study.cli import main

    spec = {"slice": {"column": "pt", "edges": [0, 1]}, "variables": {variable: [-1, 1, 2]},
            "species": {species: "is_pi"}}  # fmt: skip
    argv = ["--validation-bins", json.dumps(spec), "--results", str(tmp_path / "r")]
    assert main([*argv, "--trials", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and f"{species if species != 'pion' else variable!r}" in err
    assert "expected 1 to 64 letters, digits, _ . - (not starting with a dot)" in err
    assert not (tmp_path / "r").exists()
