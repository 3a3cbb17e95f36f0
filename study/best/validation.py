"""Validation of a trained acceptance model on the test split, in physical units.

Three populations are compared in every histogram: *generated* particles (all
of them), *truly accepted* ones (label = 1) and *model-weighted* ones (every
generated particle weighted by the predicted probability). Agreement between
the accepted counts and the weighted sums is a chi-square per degree of
freedom with the variance of both (Poisson for the counts, the sum of squared
weights for the weighted sums), empty bins skipped. Since both come from the
same particles, that variance overstates the spread of their difference (for
the true probability it gives chi2/ndf ~ 0.13 on the default sample), so a
second figure, `chi2_ndf_binomial`, uses the same-sample null variance
sum q (1 - q) of the difference, which is ~1 for a correct model.

Numbers and drawing are apart: `*_histograms`/`validate` return arrays and
figures (plain dicts), `draw_*` take them and an optional path.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from study.best.binning import LHCB, BinningSpec, spec_of
from study.store.figures import pyplot, save_png

log = logging.getLogger(__name__)

_EPS = 1e-7


# -- pure numpy ------------------------------------------------------------------------
def weighted_histogram(values, edges, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin sums of the weights (1 if None) and of their squares (the variance)."""
    values = np.asarray(values, dtype=np.float64)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    sums, _ = np.histogram(values, bins=edges, weights=w)
    variances, _ = np.histogram(values, bins=edges, weights=w * w)
    return sums, variances


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


def compare_populations(values, label, prob, edges) -> dict:
    """Generated, accepted and model-weighted histograms of `values`, with agreement figures."""
    generated, _ = weighted_histogram(values, edges)
    accepted, accepted_var = weighted_histogram(values, edges, label)
    weighted, weighted_var = weighted_histogram(values, edges, prob)
    chi2, ndf = chi2_per_ndf(accepted, accepted_var, weighted, weighted_var)
    # Same-sample null: if the model is right, accepted - weighted has variance sum q (1 - q).
    binomial_var, _ = weighted_histogram(values, edges, np.asarray(prob) * (1 - np.asarray(prob)))
    chi2_binomial, _ = chi2_per_ndf(accepted, binomial_var, weighted, np.zeros_like(weighted))
    total = float(generated.sum())
    return {
        "edges": np.asarray(edges, float).tolist(),
        "generated": generated.tolist(),
        "accepted": accepted.tolist(),
        "accepted_variance": accepted_var.tolist(),
        "weighted": weighted.tolist(),
        "weighted_variance": weighted_var.tolist(),
        "chi2_ndf": chi2,
        "chi2_ndf_binomial": chi2_binomial,
        "ndf": ndf,
        "efficiency_true": float(accepted.sum() / total) if total else float("nan"),
        "efficiency_model": float(weighted.sum() / total) if total else float("nan"),
        "entries": int(total),
    }


def cross_entropy(label, prob) -> float:
    p = np.clip(np.asarray(prob, float), _EPS, 1 - _EPS)
    y = np.asarray(label, float)
    return float(np.mean(-y * np.log(p) - (1 - y) * np.log1p(-p)))


def truth_metrics(label, prob, truth, bins: int = 20) -> dict:
    """Model vs the known true probability: cross-entropies, excess, calibration, mean |dp|."""
    from sklearn.calibration import calibration_curve

    p = np.clip(np.asarray(prob, float), _EPS, 1 - _EPS)
    t = np.clip(np.asarray(truth, float), _EPS, 1 - _EPS)
    bayes = float(np.mean(-t * np.log(t) - (1 - t) * np.log1p(-t)))
    # E[KL(p_true || p_model)]: the expected excess, free of label noise
    kl = float(np.mean(t * np.log(t / p) + (1 - t) * np.log((1 - t) / (1 - p))))
    observed, predicted = calibration_curve(np.asarray(label), p, n_bins=bins, strategy="uniform")
    return {
        "model_cross_entropy": cross_entropy(label, p),
        "truth_cross_entropy_on_labels": cross_entropy(label, t),
        "bayes_cross_entropy": bayes,
        "excess": kl,
        "excess_on_labels": cross_entropy(label, p) - cross_entropy(label, t),
        "mean_abs_probability_difference": float(np.mean(np.abs(p - t))),
        "calibration_predicted": predicted.tolist(),
        "calibration_observed": observed.tolist(),
    }


def _edges(values: np.ndarray, bins: int = 40) -> np.ndarray:
    lo, hi = np.quantile(values, [0.001, 0.999]) if len(values) else (0.0, 1.0)
    return np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)


def validate(
    physical: pd.DataFrame, label, prob, features: list[str], truth=None, bins=None
) -> dict:
    """All figures' numbers for the test split (`physical`: features in physical units)."""
    label, prob = np.asarray(label, float), np.asarray(prob, float)
    label_hist = {
        "edges": np.linspace(0, 1, 41).tolist(),
        "prediction_accepted": np.histogram(prob[label > 0.5], np.linspace(0, 1, 41))[0].tolist(),
        "prediction_rejected": np.histogram(prob[label <= 0.5], np.linspace(0, 1, 41))[0].tolist(),
    }
    metrics = {
        "rows": int(len(label)),
        "model_cross_entropy": cross_entropy(label, prob),
        "labels": label_hist,
        "features": {
            c: compare_populations(
                physical[c].to_numpy(), label, prob, _edges(physical[c].to_numpy())
            )
            for c in features
        },
        "kinematic_bins": kinematic_bins(physical, label, prob, spec_of(bins)),
        "kinematic_spec": spec_of(bins).to_dict(),
    }
    if truth is not None:
        metrics["truth"] = truth_metrics(label, prob, truth)
    return metrics


def kinematic_bins(physical: pd.DataFrame, label, prob, spec: BinningSpec = LHCB) -> list[dict]:
    """Each variable of `spec` compared per species and slice (`p_low`, `p_high`: the
    slice's edges in its units)."""
    missing = sorted(spec.columns() - set(physical.columns))
    if missing:
        log.info(
            "kinematic bins skipped: the data lack %s (set --validation-bins for other names)",
            missing,
        )
        return []
    sliced = spec.slice_values(physical[spec.slice_column].to_numpy())
    species = spec.species or {"all": None}
    edges = spec.slice_edges
    out = []
    for particle, flag in species.items():
        is_type = physical[flag].to_numpy() > 0.5 if flag else np.ones(len(physical), bool)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            rows = is_type & (sliced >= lo) & (sliced < hi)
            for variable in spec.variables:
                entry = compare_populations(
                    physical[variable].to_numpy()[rows], label[rows], prob[rows],
                    spec.edges(variable),
                )  # fmt: skip
                entry.update(particle=particle, p_low=lo, p_high=hi, variable=variable)
                out.append(entry)
    return out


def worst_bins(metrics: dict, n: int = 10) -> list[dict]:
    """Kinematic-bin histograms sorted by chi2/ndf, worst first."""
    rows = [m for m in metrics.get("kinematic_bins", []) if m["ndf"] > 0]
    return sorted(rows, key=lambda m: -m["chi2_ndf"])[:n]


# -- drawing ---------------------------------------------------------------------------
def _three_curves(ax, h: dict, xlabel: str) -> None:
    edges = np.asarray(h["edges"])
    ax.stairs(h["generated"], edges, label="generated", color="0.6")
    ax.stairs(h["accepted"], edges, label="truly accepted", color="C0")
    ax.errorbar(
        0.5 * (edges[1:] + edges[:-1]),
        h["weighted"],
        yerr=np.sqrt(h["weighted_variance"]),
        fmt=".",
        color="C3",
        label="model-weighted",
    )
    ax.set_xlabel(xlabel)
    ax.set_title(f"chi2/ndf {h['chi2_ndf']:.2f} ({h['ndf']})", fontsize=8)


def draw_validation(metrics: dict, directory: Path) -> list[Path]:
    """Write every figure of `metrics` as PNGs under `directory`; return their paths."""
    plt = pyplot()
    directory = Path(directory)
    paths = []

    def save(fig, name):
        paths.append(save_png(fig, directory / name))

    save(_labels_figure(plt, metrics["labels"]), "labels_vs_prediction.png")
    save(_features_figure(plt, metrics["features"]), "features.png")
    unit = metrics.get("kinematic_spec", LHCB.to_dict())["slice"].get("label", "")
    pairs = dict.fromkeys((m["particle"], m["variable"]) for m in metrics["kinematic_bins"])
    for particle, variable in pairs:
        entries = [
            m for m in metrics["kinematic_bins"]
            if m["particle"] == particle and m["variable"] == variable
        ]  # fmt: skip
        save(_slices_figure(plt, entries, variable, unit), f"{particle}_{variable}.png")
    if "truth" in metrics:
        save(_calibration_figure(plt, metrics["truth"]), "calibration.png")
    return paths


def _labels_figure(plt, lab: dict):
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.stairs(lab["prediction_accepted"], lab["edges"], label="label 1")
    ax.stairs(lab["prediction_rejected"], lab["edges"], label="label 0")
    ax.set_yscale("log")
    ax.set_xlabel("predicted acceptance")
    ax.legend()
    return fig


def _features_figure(plt, features: dict):
    names, cols = list(features), 4
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows))
    for ax, name in zip(np.ravel(axes), names, strict=False):
        _three_curves(ax, features[name], name)
    np.ravel(axes)[0].legend(fontsize=7)
    return fig


def _slices_figure(plt, entries: list[dict], variable: str, unit: str):
    cols = 3
    rows = max(1, (len(entries) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 3 * rows), squeeze=False)
    for ax, m in zip(np.ravel(axes), entries, strict=False):
        _three_curves(ax, m, variable)
        ax.set_title(
            f"{m['p_low']:g}-{m['p_high']:g} {unit}  chi2/ndf {m['chi2_ndf']:.2f}", fontsize=8
        )
    np.ravel(axes)[0].legend(fontsize=7)
    return fig


def _calibration_figure(plt, t: dict):
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":")
    ax.plot(t["calibration_predicted"], t["calibration_observed"], "o-")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed accepted fraction")
    ax.set_title(f"excess {t['excess']:.4f} nats", fontsize=9)
    return fig
