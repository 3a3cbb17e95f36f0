"""The validation's histograms: scikit-hep `hist` objects with weighted storage.

Three populations of the same particles are compared in every histogram: *generated*
(weight 1), *truly accepted* (weight = label) and *model-weighted* (weight = predicted
probability). A fourth, *null*, holds q (1 - q) per particle: the variance of
accepted - weighted if the model were right. Each is a `hist.Hist` with `Weight()`
storage, so values and variances (sums of weights and of squared weights) come from
boost-histogram itself; the chi-square, the efficiencies and the figures
(study/best/validation_plots.py) all read these same objects.

Agreement is one statistic, `chi2_ndf` (`agreement`): sum over groups of sub-bins of
(accepted - weighted)^2 / sum q (1 - q), divided by the number of groups (ndf). The
variance is the same-sample null one (accepted and weighted come from the same
particles), so the truth scores ~1: its mean is exactly 1 a group.

The sparse rule: a group needs a null variance sum q (1 - q) of at least `SPARSE` = 5,
in effect five particles whose outcome is in doubt. That implies at least 5 expected
accepted (sum q) and 5 expected rejected (entries - sum q), the textbook floor of a
chi-square's normal approximation, and it also holds back sub-bins of near-certain
particles (q near 0 or 1), where one surprise scores ~1 / sum q (1 - q): 100 for a
sub-bin with sum q (1 - q) = 0.01, a surprise that the truth itself has 1 % of the time. A
populated sub-bin below 5 is merged with its populated neighbours, left to right, until
the group reaches 5 (a short remainder joins the group before it); `sparse` counts those
sub-bins, and a bin with no such group has no chi-square (ndf 0, not ranked). The rule
reads the model's q, never the labels, so the grouping cannot chase a fluctuation.

It replaced two figures (issue item 7): a chi2/ndf with the variances of both the counts
and the weighted sums, which exploded where a sub-bin holds no accepted particle (244.54
on a bin whose efficiencies agree, 0.0745 true and 0.0750 model), and the same-sample one
without the sparse rule. The report rescores the bins of an older metrics.json from their
arrays (study/report/sane.py).
"""

from __future__ import annotations

import hist
import numpy as np

POPULATIONS = ("generated", "accepted", "weighted", "null")


def axis(edges, name: str = "x", label: str | None = None):
    return hist.axis.Variable(np.asarray(edges, float), name=name, label=label or name)


def filled(axes: list, columns: list, weights=None) -> hist.Hist:
    """A weighted-storage histogram of `columns` (one array per axis), weights 1 if None."""
    h = hist.Hist(*axes, storage=hist.storage.Weight())
    columns = [np.asarray(c, float) for c in columns]
    h.fill(*columns, weight=np.ones(len(columns[0])) if weights is None else weights)
    return h


def populations(axes: list, columns: list, label, prob) -> dict[str, hist.Hist]:
    """The four histograms (POPULATIONS) of the same particles over `axes`."""
    label, prob = np.asarray(label, float), np.asarray(prob, float)
    weights = (None, label, prob, prob * (1 - prob))  # in POPULATIONS' order
    return {name: filled(axes, columns, w) for name, w in zip(POPULATIONS, weights, strict=True)}


SPARSE = 5.0  # the null variance sum q (1 - q) a group of sub-bins needs


def chi2_per_ndf(counts, counts_var, expected, expected_var) -> tuple[float, int]:
    """Chi-square per bin of counts vs expected with the two variances summed; bins with
    no variance skipped (ndf 0: NaN)."""
    counts, expected = np.asarray(counts, float), np.asarray(expected, float)
    variance = np.asarray(counts_var, float) + np.asarray(expected_var, float)
    used = variance > 0
    ndf = int(used.sum())
    if ndf == 0:
        return float("nan"), 0
    chi2 = float(np.sum((counts[used] - expected[used]) ** 2 / variance[used]))
    return chi2 / ndf, ndf


def merged_groups(generated, null_variance, least: float = SPARSE) -> list[list[int]]:
    """Runs of adjacent populated sub-bins, left to right, each closed once its null
    variance reaches `least`; a remainder short of it joins the run before; [] if the
    whole bin falls short."""
    null_variance = np.asarray(null_variance, float)
    groups, run = [], []
    for j in np.flatnonzero(np.asarray(generated, float) > 0):
        run.append(int(j))
        if null_variance[run].sum() >= least:
            groups.append(run)
            run = []
    if run and groups:
        groups[-1] += run
    return groups


def agreement(
    generated, accepted, weighted, null_variance, least: float = SPARSE
) -> tuple[float, int, int]:
    """(chi2_ndf, ndf, sparse): the ranking statistic (module docstring) of accepted counts
    vs weighted sums over the `merged_groups`, and the populated sub-bins below `least`."""
    populated = np.asarray(generated, float) > 0
    sparse = int(np.sum(populated & (np.asarray(null_variance, float) < least)))
    groups = merged_groups(generated, null_variance, least)
    if not groups:
        return float("nan"), 0, sparse
    accepted, variance, expected = (
        np.array([np.sum(np.asarray(x, float)[g]) for g in groups])
        for x in (accepted, null_variance, weighted)
    )
    chi2, ndf = chi2_per_ndf(accepted, variance, expected, np.zeros(len(groups)))
    return chi2, ndf, sparse


def ratio(numerator, denominator) -> np.ndarray:
    """Bin-by-bin ratio, NaN where the denominator is zero."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    out = np.full_like(numerator, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def compare(hists: dict[str, hist.Hist]) -> dict:
    """The numbers of one 1-D comparison, read from its histograms (kept under "hists"):
    `chi2_ndf`, `ndf` and `sparse` as `agreement` has them."""
    accepted, weighted, null = hists["accepted"], hists["weighted"], hists["null"]
    generated = hists["generated"].values()
    chi2, ndf, sparse = agreement(generated, accepted.values(), weighted.values(), null.values())
    total = float(generated.sum())
    return {
        "edges": hists["generated"].axes[0].edges.tolist(),
        "generated": generated.tolist(),
        "accepted": accepted.values().tolist(),
        "accepted_variance": accepted.variances().tolist(),
        "weighted": weighted.values().tolist(),
        "weighted_variance": weighted.variances().tolist(),
        "null_variance": null.values().tolist(),
        "chi2_ndf": chi2,
        "ndf": ndf,
        "sparse": sparse,
        "efficiency_true": float(accepted.values().sum() / total) if total else float("nan"),
        "efficiency_model": float(weighted.values().sum() / total) if total else float("nan"),
        "entries": int(total),
        "hists": hists,
    }


def compare_populations(values, label, prob, edges, name: str = "x") -> dict:
    """Generated, accepted and model-weighted histograms of `values`, with agreement figures."""
    return compare(populations([axis(edges, name)], [values], label, prob))


def json_ready(metrics):
    """`metrics` without the histogram objects (for metrics.json)."""
    if isinstance(metrics, dict):
        return {k: json_ready(v) for k, v in metrics.items() if k != "hists"}
    if isinstance(metrics, list):
        return [json_ready(v) for v in metrics]
    return metrics
