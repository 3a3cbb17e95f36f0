"""The validation's histograms: scikit-hep `hist` objects with weighted storage.

Three populations of the same particles are compared in every histogram: *generated*
(weight 1), *truly accepted* (weight = label) and *model-weighted* (weight = predicted
probability). A fourth, *null*, holds q (1 - q) per particle: the variance of
accepted - weighted if the model were right. Each is a `hist.Hist` with `Weight()`
storage, so values and variances (sums of weights and of squared weights) come from
boost-histogram itself; the chi-squares, the efficiencies and the figures
(study/best/validation_plots.py) all read these same objects.

A kinematic bin is a slice of a 2-D histogram (slice variable x plotted variable) at
one bin of the slice axis: `h[i, :]`. Values on an upper edge belong to the overflow
bin, as boost-histogram has it (numpy's last bin would take them).
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


def chi2_per_ndf(counts, counts_var, weighted, weighted_var) -> tuple[float, int]:
    """Chi-square of counts vs weighted sums with both variances; bins with none skipped."""
    counts, weighted = np.asarray(counts, float), np.asarray(weighted, float)
    variance = np.asarray(counts_var, float) + np.asarray(weighted_var, float)
    used = variance > 0
    ndf = int(used.sum())
    if ndf == 0:
        return float("nan"), 0
    chi2 = float(np.sum((counts[used] - weighted[used]) ** 2 / variance[used]))
    return chi2 / ndf, ndf


def ratio(numerator, denominator) -> np.ndarray:
    """Bin-by-bin ratio, NaN where the denominator is zero."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    out = np.full_like(numerator, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def compare(hists: dict[str, hist.Hist]) -> dict:
    """The numbers of one 1-D comparison, read from its histograms (kept under "hists").

    chi2_ndf uses the variances of both the accepted counts and the weighted sums;
    since both come from the same particles that overstates the spread of their
    difference, so chi2_ndf_binomial uses the null variance sum q (1 - q) instead
    (~1 for a correct model).
    """
    accepted, weighted, null = hists["accepted"], hists["weighted"], hists["null"]
    generated = hists["generated"].values()
    chi2, ndf = chi2_per_ndf(
        accepted.values(), accepted.variances(), weighted.values(), weighted.variances()
    )
    chi2_binomial, _ = chi2_per_ndf(
        accepted.values(), null.values(), weighted.values(), np.zeros(len(generated))
    )
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
        "chi2_ndf_binomial": chi2_binomial,
        "ndf": ndf,
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
