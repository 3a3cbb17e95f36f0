"""Validation of a trained acceptance model on the test split, in physical units.

Three populations are compared in every histogram: *generated* particles (all
of them), *truly accepted* ones (label = 1) and *model-weighted* ones (every
generated particle weighted by the predicted probability). Agreement between
the accepted counts and the weighted sums is one chi-square per degree of freedom,
`chi2_ndf`, with the same-sample null variance sum q (1 - q) (~1 for a correct model),
over groups of sub-bins that each hold enough uncertain particles to be scored
(`histograms.agreement`, whose docstring states the sparse rule); `sparse` counts the
sub-bins merged into a neighbour. It ranks the kinematic bins everywhere: the terminal,
metrics.json, the report and the figures.

The histograms are scikit-hep `hist` objects with weighted storage
(study/best/histograms.py); the numbers here and the figures
(study/best/validation_plots.py, `draw_validation`) are read from the same objects.
metrics.json holds their values and variances (`histograms.json_ready`).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from study.best import histograms
from study.best.histograms import compare_populations, json_ready
from study.best.validation_plots import draw_validation, worst_first
from study.binning import LHCB, BinningSpec, spec_of

__all__ = ["compare_populations", "draw_validation", "json_ready", "validate", "worst_bins"]

log = logging.getLogger(__name__)

_EPS = 1e-7


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
    score = histograms.axis(np.linspace(0, 1, 41), "prediction")
    label_hist = {
        "edges": score.edges.tolist(),
        "prediction_accepted": histograms.filled([score], [prob[label > 0.5]]).values().tolist(),
        "prediction_rejected": histograms.filled([score], [prob[label <= 0.5]]).values().tolist(),
    }
    metrics = {
        "rows": int(len(label)),
        "model_cross_entropy": cross_entropy(label, prob),
        "labels": label_hist,
        "features": {
            c: compare_populations(
                physical[c].to_numpy(), label, prob, _edges(physical[c].to_numpy()), c
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
    slices = histograms.axis(edges, "slice", spec.slice_label)
    out = []
    for particle, flag in species.items():
        rows = physical[flag].to_numpy() > 0.5 if flag else np.ones(len(physical), bool)
        # per variable, one 2-D histogram (slice x variable) a population; a bin is h[i, :]
        planes = {
            variable: histograms.populations(
                [slices, histograms.axis(spec.edges(variable), variable)],
                [sliced[rows], physical[variable].to_numpy()[rows]],
                label[rows],
                prob[rows],
            )  # fmt: skip
            for variable in spec.variables
        }
        for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
            for variable, plane in planes.items():
                entry = histograms.compare({k: h[i, :] for k, h in plane.items()})
                entry.update(particle=particle, p_low=lo, p_high=hi, variable=variable)
                out.append(entry)
    return out


def worst_bins(metrics: dict, n: int = 10) -> list[dict]:
    """Kinematic-bin histograms with a chi-square, by chi2_ndf, worst first."""
    return worst_first(metrics.get("kinematic_bins", []))[:n]
