"""A study's figures as matplotlib Figure objects, drawn from its records and written
nowhere: learning curves, the validation's histograms (rebuilt from the numbers that
best/validation/metrics.json stores, drawn with study/best/validation_plots.py's
`comparison`) and hyperparameter importances.

Figures are made through pyplot and closed there at once: a notebook's inline backend is
loaded (so a returned Figure shows as an image) and shows each figure once, as the value
it is; pyplot keeps none of them.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np

from study.errors import ConfigError
from study.store.records import HistoryRow, finite

log = logging.getLogger(__name__)
DPI = 72  # modest: a notebook's figures stay small
PHASES = {1: "-", 2: "--"}  # phase 1 solid, phase 2 (fine-tuning) dashed
# a Figure is drawn again where it is shown, outside the style's context: its mathtext
# keeps a built-in font set (LHCb's "custom" one would look up the global rcParams' fonts)
MATH = {"mathtext.fontset": "dejavuserif"}


def plain(text) -> str:
    """Text from a record as matplotlib draws it literally (a `$` starts no mathtext)."""
    return str(text).replace("$", r"\$")


def new_figure(figsize=(7.0, 4.0), dpi: int = DPI):
    """A Figure that pyplot does not keep."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=figsize, dpi=dpi)
    plt.close(fig)
    return fig


def _phase_lines(ax, rows: list[HistoryRow], key: str, colour: str, label: str) -> None:
    """`key` against the epoch, one line a phase (the second starts at the first's end)."""
    rows = [r for r in rows if finite(getattr(r, key)) and finite(r.epoch)]
    for phase, style in PHASES.items():
        part = [r for r in rows if r.phase == phase]
        if phase == 2 and part:
            part = [r for r in rows if r.phase == 1][-1:] + part
        if part:
            ax.plot([r.epoch for r in part], [getattr(r, key) for r in part], style, marker="o",
                    markersize=3, color=colour, label=label if phase == 1 else None)  # fmt: skip


def trial_curves(study_dir, reports: list, trial=None) -> list[tuple[str, list[HistoryRow]]]:
    """(label, history rows) of the trials `Study.learning_curves` draws: with `trial`
    None every completed trial, "final" none, else the trial id(s) given (KeyError for
    an id no trial has); a history that cannot be read is left out with a warning."""
    from study.errors import DataError
    from study.status import TrialStatus
    from study.store.records import TrialRecords, read_history

    if trial is None:
        chosen = [r for r in reports if r.status == TrialStatus.COMPLETED]
    elif trial == "final":
        chosen = []
    else:
        wanted = [str(t) for t in (trial if isinstance(trial, list | tuple) else [trial])]
        chosen = [r for r in reports if r.trial_id in wanted]
        missing = sorted(set(wanted) - {r.trial_id for r in chosen})
        if missing:
            raise KeyError(f"{study_dir}: no trial {', '.join(missing)}")
    records, curves = TrialRecords(study_dir), []
    for r in chosen:
        try:
            rows = read_history(records.trial_dir(r.trial_id) / "history.csv")
            curves.append((plain(f"trial {r.trial_id}"), rows))
        except (ConfigError, DataError, OSError) as err:
            log.warning("%s; its curve is left out", (str(err).splitlines() or [""])[0])
    return curves


def learning_curves(curves: list[tuple[str, list[HistoryRow]]], final=None):
    """A Figure of the search's `curves` ((label, history rows) each: val_bce by epoch)
    and, where given, the final fit's loss and val_bce, each on its own axes; phase 1
    solid, phase 2 dashed."""
    from matplotlib.ticker import MaxNLocator

    panels = int(bool(curves)) + int(final is not None)
    fig = new_figure((6.5 * max(panels, 1), 4.0))
    axes = fig.subplots(1, max(panels, 1), squeeze=False)[0]
    if curves:
        for k, (label, rows) in enumerate(curves):
            _phase_lines(axes[0], rows, "val_bce", f"C{k % 10}", label)
        axes[0].set_title("search: val_bce of each trial (dashed: phase 2)", fontsize=9)
        axes[0].set_ylabel("validation cross-entropy")
    if final is not None:
        ax = axes[-1]
        rows = [HistoryRow(**r) for r in final.history.to_dict("records")]
        _phase_lines(ax, rows, "loss", "C0", "training loss")
        _phase_lines(ax, rows, "val_bce", "C3", "validation cross-entropy")
        ax.set_title(plain(f"final fit of trial {final.trial_id} (dashed: phase 2)"), fontsize=9)
    if not panels:
        axes[0].text(0.5, 0.5, "no learning curve yet", ha="center", transform=axes[0].transAxes)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def stored_hists(m: dict) -> dict:
    """The four `hist` histograms of a stored comparison (study/best/histograms.py's
    `compare` without its "hists"), rebuilt from its values and variances."""
    import hist

    from study.best.histograms import axis

    edges = np.asarray(m["edges"], float)
    zeros = np.zeros(len(edges) - 1)

    def one(values, variances):
        h = hist.Hist(axis(edges), storage=hist.storage.Weight())
        h[...] = np.stack([np.asarray(values, float), np.asarray(variances, float)], axis=-1)
        return h

    return {
        "generated": one(m["generated"], m["generated"]),
        "accepted": one(m["accepted"], m.get("accepted_variance", m["accepted"])),
        "weighted": one(m["weighted"], m.get("weighted_variance", zeros)),
        "null": one(m["null_variance"], zeros),
    }


def _entries(final, what, top: int) -> list[tuple[dict, str, str]]:
    """(comparison, x label, title) of each panel of `validation_figure`."""
    from study.api.final import usable_bins
    from study.best.validation_plots import worst_first
    from study.report.sane import rescored

    metrics = final.validation
    if not metrics:
        raise ConfigError(f"{final.directory}: no validation record (validation/metrics.json)")
    bins = usable_bins(final.directory, metrics)
    unit = metrics.unit

    def titled(m):
        title = f"{m['particle']} {m['p_low']:g}-{m['p_high']:g} {unit}"
        return m, plain(m["variable"]), plain(title)

    if what == "worst":
        return [titled(m) for m in worst_first(bins)[:top]]
    if what == "features":
        return [(rescored(m), plain(name), "") for name, m in (metrics.features or {}).items()]
    particle, variable = what
    return [titled(m) for m in bins if (m["particle"], m["variable"]) == (particle, variable)]


def validation_figure(final, what="worst", top: int = 6):
    """The validation's comparisons as one Figure: a main panel (generated, truly accepted,
    model-weighted) over a ratio panel each, in LHCb's style (study/best/validation_plots.py);
    see Final.validation_figure for `what`."""
    import matplotlib.style
    import mplhep as hep

    from study.best.validation_plots import STYLE, _grid, comparison

    drawn = []
    for m, xlabel, title in _entries(final, what, top):
        try:
            drawn.append(({**m, "hists": stored_hists(m)}, xlabel, title))
        except (KeyError, TypeError, ValueError) as err:
            log.warning("validation entry %s: not drawn (%s)", title or xlabel, err)
    if not drawn:
        raise ConfigError(f"{final.directory}: no validation histogram of {what!r} to draw")
    with matplotlib.style.context([hep.style.LHCb2, STYLE, MATH]):
        maker = SimpleNamespace(figure=lambda figsize: new_figure(figsize, DPI))
        fig, pairs = _grid(maker, len(drawn), min(3 if what != "features" else 4, len(drawn)))
        for (ax, rax), (m, xlabel, title) in zip(pairs, drawn, strict=True):
            comparison(ax, rax, m, xlabel, title)
        pairs[0][0].legend()
    return fig


def importances_figure(values: dict, note: str):
    """Hyperparameter importances as horizontal bars (most important on top); with no
    values, the `note` that says why."""
    fig = new_figure((6.0, 0.4 * max(3, len(values)) + 1.0))
    ax = fig.add_subplot()
    if values:
        names = list(values)[::-1]
        ax.barh([plain(n) for n in names], [values[n] for n in names], color="C0")
        ax.set_xlabel("importance (sums to 1)")
    else:
        ax.set_axis_off()
    ax.set_title(plain(note), fontsize=8 if values else 10, wrap=True)
    fig.tight_layout()
    return fig
