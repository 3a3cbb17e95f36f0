"""The validation's figures, drawn with mplhep in LHCb's style from the `hist` objects of
study/best/histograms.py (the ones the chi-square was computed from).

Each comparison is a main panel (generated, truly accepted with its errors,
model-weighted with its errors) over a ratio panel: model-weighted / truly accepted,
with the band of its expected spread if the model were right (sqrt(sum q (1 - q)) /
accepted, the same-sample null of `chi2_ndf`, study/best/histograms.py).

Figures: `features.png` (every input), `<particle>_<variable>.png` (every momentum
slice of one kinematic variable), `worst/NN_<particle>_<variable>_<slice>.png` (the
WORST bins by chi2_ndf, one figure each, for the report), `labels_vs_prediction.png`,
`calibration.png`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from study.best.histograms import ratio
from study.store.figures import pyplot, save_png

WORST = 6  # kinematic bins drawn on their own, worst chi2/ndf first
STYLE = {"font.size": 11, "axes.titlesize": 10, "legend.fontsize": 8, "axes.labelsize": 11,
         "xtick.labelsize": 9, "ytick.labelsize": 9, "lines.linewidth": 1.5,
         "xtick.minor.visible": False, "ytick.minor.visible": False}  # fmt: skip
# (minor ticks off: with them, drawing the 15 figures took 19 s instead of ~4)


def _style():
    """LHCb's style (mplhep), scaled down so that grids of panels stay legible."""
    import mplhep as hep

    return pyplot().style.context([hep.style.LHCb2, STYLE])


def comparison(ax, rax, m: dict, xlabel: str, title: str = "") -> None:
    """One comparison `m` (histograms.compare) on a main panel `ax` and a ratio panel `rax`."""
    import mplhep as hep

    h = m["hists"]
    hep.histplot(h["generated"], ax=ax, color="0.6", label="generated", yerr=False, flow="none")
    hep.histplot(h["accepted"], ax=ax, histtype="errorbar", color="k", label="truly accepted",
                 yerr=np.sqrt(h["accepted"].variances()), markersize=3, flow="none")  # fmt: skip
    hep.histplot(h["weighted"], ax=ax, color="C3", label="model-weighted",
                 yerr=np.sqrt(h["weighted"].variances()), flow="none")  # fmt: skip
    ax.set_ylim(0, 1.3 * max(float(h["generated"].values().max(initial=0)), 1.0))
    ax.set_ylabel("particles")
    ax.set_xlabel("")
    ax.set_title(title, fontsize=9, loc="left")
    ax.text(
        0.98, 0.96,
        f"{agreement_label(m)}\n"
        f"efficiency {m['efficiency_true']:.3f} true, {m['efficiency_model']:.3f} model",
        transform=ax.transAxes, ha="right", va="top", fontsize=7,
    )  # fmt: skip
    accepted = h["accepted"].values()
    edges = h["accepted"].axes[0].edges
    r = ratio(h["weighted"].values(), accepted)
    band = ratio(np.sqrt(h["null"].values()), accepted)
    rax.stairs(1 + band, edges, baseline=1 - band, fill=True, color="C3", alpha=0.25,
               label="expected spread")  # fmt: skip
    centres = 0.5 * (edges[1:] + edges[:-1])
    rax.plot(centres, r, "o", color="C3", markersize=3)
    rax.axhline(1.0, color="0.4", linewidth=0.8)
    rax.set_ylim(*_ratio_limits(r, band))
    rax.set_ylabel("model / true")
    rax.set_xlabel(xlabel)


def agreement_label(m: dict) -> str:
    """The figure's words for `chi2_ndf` (mathtext), the sparse sub-bins merged marked."""
    merged = f", {m['sparse']} sparse merged" if m["sparse"] else ""
    if not m["ndf"]:
        return f"no $\\chi^2$: too sparse ({m['sparse']} sub-bins)"
    return f"$\\chi^2$/ndf {m['chi2_ndf']:.2f} (ndf {m['ndf']}{merged})"


def _ratio_limits(r: np.ndarray, band: np.ndarray) -> tuple[float, float]:
    spread = np.nanmax(np.abs(np.concatenate([r - 1, band]))) if np.isfinite(r).any() else 0.5
    spread = float(min(max(spread * 1.15, 0.05), 1.0)) if np.isfinite(spread) else 0.5
    return 1 - spread, 1 + spread


def _grid(plt, n: int, cols: int):
    """Figure with n (main, ratio) pairs of axes on `cols` columns."""
    rows = max(1, (n + cols - 1) // cols)
    width, height = 4.6 * cols, 4.2 * rows
    fig = plt.figure(figsize=(width, height))
    outer = fig.add_gridspec(
        rows, cols, hspace=0.3, wspace=0.32,
        left=0.8 / width, right=1 - 0.15 / width, bottom=0.55 / height, top=1 - 0.3 / height,
    )  # fmt: skip
    pairs = []
    for k in range(n):
        inner = outer[divmod(k, cols)].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.06)
        ax = fig.add_subplot(inner[0])
        pairs.append((ax, fig.add_subplot(inner[1], sharex=ax)))
        ax.tick_params(labelbottom=False)
    return fig, pairs


def draw_validation(metrics: dict, directory: Path) -> list[Path]:
    """Write every figure of `metrics` (with its `hists`) under `directory`; return the paths."""
    plt = pyplot()
    directory = Path(directory)
    paths = []
    with _style():
        labels = _labels_figure(plt, metrics["labels"])
        paths.append(save_png(labels, directory / "labels_vs_prediction.png"))
        features = metrics["features"]
        fig, pairs = _grid(plt, len(features), 4)
        for (ax, rax), name in zip(pairs, features, strict=True):
            comparison(ax, rax, features[name], name)
        pairs[0][0].legend()
        paths.append(save_png(fig, directory / "features.png", tight=False))
        paths += _kinematic_figures(plt, metrics, directory)
        if "truth" in metrics:
            calibration = _calibration_figure(plt, metrics["truth"])
            paths.append(save_png(calibration, directory / "calibration.png"))
    return paths


def _slice_title(m: dict, unit: str) -> str:
    return f"{m['particle']} {m['p_low']:g}-{m['p_high']:g} {unit}"


def _kinematic_figures(plt, metrics: dict, directory: Path) -> list[Path]:
    from study.binning import LHCB

    bins = metrics["kinematic_bins"]
    unit = metrics.get("kinematic_spec", LHCB.to_dict())["slice"].get("label", "")
    paths = []
    for particle, variable in dict.fromkeys((m["particle"], m["variable"]) for m in bins):
        entries = [m for m in bins if m["particle"] == particle and m["variable"] == variable]
        fig, pairs = _grid(plt, len(entries), 3)
        for (ax, rax), m in zip(pairs, entries, strict=True):
            comparison(ax, rax, m, variable, _slice_title(m, unit))
        pairs[0][0].legend()
        paths.append(save_png(fig, directory / f"{particle}_{variable}.png", tight=False))
    for rank, m in enumerate(worst_first(bins)[:WORST], start=1):
        fig, [(ax, rax)] = _grid(plt, 1, 1)
        comparison(ax, rax, m, m["variable"], _slice_title(m, unit))
        ax.legend()
        paths.append(save_png(fig, directory / "worst" / worst_name(rank, m), 110, tight=False))
    return paths


def worst_first(bins: list[dict]) -> list[dict]:
    """Kinematic bins with a chi-square (ndf > 0), by chi2_ndf, worst first: the one
    ranking of the terminal, the report and the figures."""
    return sorted((m for m in bins if m["ndf"] > 0), key=lambda m: -m["chi2_ndf"])


def worst_name(rank: int, m: dict) -> str:
    return f"{rank:02d}_{m['particle']}_{m['variable']}_{m['p_low']:g}-{m['p_high']:g}.png"


def _labels_figure(plt, lab: dict):
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.stairs(lab["prediction_accepted"], lab["edges"], label="label 1")
    ax.stairs(lab["prediction_rejected"], lab["edges"], label="label 0")
    ax.set_yscale("log")
    ax.set_xlabel("predicted acceptance")
    ax.legend()
    return fig


def _calibration_figure(plt, t: dict):
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":")
    ax.plot(t["calibration_predicted"], t["calibration_observed"], "o-")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed accepted fraction")
    ax.set_title(f"excess {t['excess']:.4f} nats", fontsize=9)
    return fig
