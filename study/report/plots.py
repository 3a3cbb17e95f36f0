"""Figures of the report. `*_data` functions compute what a figure shows; `draw_*` draw it.

Every draw function takes the data and the path of the PNG it writes (atomically),
and returns that path. Text from records (trial ids, statuses, hyperparameter names and
values) is drawn as it is, never as mathtext or LaTeX (`plain`, `no_tex`): a status
`$\\frac{1}{0}$` is a label, not a formula matplotlib fails to parse.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from study.names import shown
from study.report.collect import StudyRecord, TrialSummary
from study.report.escape import terminal_text
from study.report.series import CostFront, Curve, ObjectiveSeries, Panel
from study.status import TrialStatus
from study.store.figures import pyplot, save_png

log = logging.getLogger(__name__)

STATUS_COLOURS = {
    TrialStatus.COMPLETED: "C0",
    TrialStatus.PRUNED: "C1",
    TrialStatus.FAILED: "C3",
    TrialStatus.RUNNING: "C2",
    TrialStatus.KILLED: "C4",
    TrialStatus.INTERRUPTED: "C4",
}


def plain(text) -> str:
    """`text` for a matplotlib label: every `$` escaped, so none starts mathtext; escape
    sequences and control characters as for a terminal."""
    return terminal_text(text).replace("$", r"\$")


def no_tex(draw):
    """`draw` run with LaTeX text rendering off, whatever a matplotlibrc says."""

    @functools.wraps(draw)
    def wrapped(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.usetex": False}):
            return draw(*args, **kwargs)

    return wrapped


def integer_axis(axis) -> None:
    """Ticks on whole numbers only (trial indices, epochs)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def log_axis(ax, values, which: str = "x") -> None:
    """A log axis with a few labelled ticks however wide or narrow the range: decades over
    more than two decades, 1-3 steps over one or two, else four log-spaced ticks
    rounded to two significant digits."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    values = np.asarray([v for v in values if v is not None and v > 0], float)
    axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(lambda v, _: tick_text(v)))
    if not len(values):
        return
    low, high = values.min(), values.max()
    decades = np.log10(high / low)
    if decades > 2:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0,)))
    elif decades >= 1:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 3.0)))
    else:
        if high == low:
            low, high = low / 1.5, high * 1.5
        ticks = [float(f"{t:.2g}") for t in np.geomspace(low, high, 4)]
        axis.set_major_locator(FixedLocator(sorted(set(ticks))))


def tick_text(v: float) -> str:
    """1,400 / 0.059 / 5e-05: short, and never 1.38e+03."""
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 1:
        return f"{v:.3g}"
    if v >= 0.01:
        return f"{v:.2g}"
    return f"{v:.0e}" if float(f"{v:.0e}") == float(f"{v:.2g}") else f"{v:.1e}"


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


@no_tex
def draw_objective(series: ObjectiveSeries, failed: list[str], path: Path) -> Path:
    """Objective per trial (id order) with the best-so-far line; failed trials marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = np.arange(len(series.trial_id))
    y = np.array([np.nan if v is None else v for v in series.objective], dtype=float)
    best = np.array([np.nan if v is None else v for v in series.best_so_far], dtype=float)
    if np.isfinite(y).any():
        ax.plot(x, y, "o", color="C0", label="completed trial")
        stopped = np.array([np.nan if v is None else v for v in series.pruned], dtype=float)
        if np.isfinite(stopped).any():
            ax.plot(x, stopped, "v", color="C1", label="pruned (best value reached)")
        ax.step(x, best, where="post", color="C3", label="best so far")
        top = np.nanmax(y)
        fx = [i for i, t in enumerate(series.trial_id) if t in failed]
        if fx:
            ax.plot(fx, [top] * len(fx), "x", color="0.3", label="failed (no objective)")
        ax.legend(fontsize=8)
    else:
        _no_data(ax, "no completed trial yet")
    integer_axis(ax.xaxis)
    ax.set_xlabel("trial (in the order they began)")
    ax.set_ylabel("objective: best val_bce")
    return save_png(fig, path)


def hyperparameter_data(study: StudyRecord, names: list[str]) -> list[Panel]:
    """For each searched hyperparameter: its values and objectives over completed trials.

    Ranges give numeric x (log axis where the space samples logarithmically);
    choices give category positions 0..k-1 with a small deterministic jitter.
    """
    done = study.completed()
    rng = np.random.default_rng(0)
    out = []
    for name in names:
        p = study.space[name]
        if p.kind == "choice":
            categories = [str(v) for v in p.values]
            points = _points(done, name, lambda v, c=categories: c.index(str(v)))
            index = [x for x, _ in points]
            x = (np.array(index, dtype=float) + rng.uniform(-0.15, 0.15, len(index))).tolist()
            y = [y for _, y in points]
            out.append(Panel(name, "choice", x, y, categories=categories))
        else:
            points = _points(done, name, lambda v: _number(float(v)))
            x, y = [x for x, _ in points], [y for _, y in points]
            out.append(Panel(name, p.kind, x, y, log=p.log))
    return out


def _number(value: float) -> float:
    if not np.isfinite(value):
        raise ValueError(value)
    return value


def _points(trials: list[TrialSummary], name: str, position) -> list[tuple[float, float]]:
    """(position of the trial's value of `name`, objective) of each trial; a value that
    has no position (a choice the space lacks, a range value that is no number) is left
    out with a warning naming the trial."""
    out = []
    for t in trials:
        value = t.hyperparameters.get(name)
        try:
            out.append((position(value), t.objective))
        except (ValueError, TypeError, OverflowError):
            log.warning("trial %s: %s = %s is not in the search space; not drawn",
                        shown(t.trial_id), name, shown(value))  # fmt: skip
    return out


@no_tex
def draw_hyperparameters(panels: list[Panel], path: Path) -> Path:
    plt = pyplot()
    cols = 4
    rows = max(1, (len(panels) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    for ax, panel in zip(axes.ravel(), panels, strict=False):
        ax.plot(panel.x, panel.y, "o", alpha=0.7, color="C0")
        if panel.kind == "choice":
            ticks = [plain(c) for c in panel.categories]
            ax.set_xticks(range(len(ticks)), ticks, fontsize=8)
            ax.set_xlim(-0.5, len(ticks) - 0.5)
        elif panel.log:
            log_axis(ax, panel.x)
            ax.tick_params(axis="x", labelsize=8)
        ax.set_xlabel(plain(panel.name))
        ax.set_ylabel("objective", fontsize=8)
    if not panels:
        _no_data(axes[0, 0], "no hyperparameter is searched")
    return save_png(fig, path)


def learning_curve_data(trials: list[TrialSummary]) -> list[Curve]:
    """val_bce over the global epoch of each trial, with its phase switch."""
    return [
        Curve(
            label=f"{t.label} ({t.objective:.4f})" if t.objective is not None else t.label,
            epoch=t.history["epoch"].tolist(),
            val_bce=t.history["val_bce"].tolist(),
            switch_epoch=t.switch_epoch,
        )
        for t in trials
        if t.history is not None and len(t.history)
    ]


@no_tex
def draw_learning_curves(curves: list[Curve], path: Path, title: str = "") -> Path:
    """Overlaid validation curves; a dotted line in each curve's colour marks its phase switch."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, c in enumerate(curves):
        colour = f"C{i % 10}"
        ax.plot(c.epoch, c.val_bce, "-o", markersize=3, color=colour, label=plain(c.label))
        if c.switch_epoch is not None:
            ax.axvline(c.switch_epoch - 0.5, color=colour, linestyle=":", alpha=0.8)
    if curves:
        ax.legend(fontsize=8)
    else:
        _no_data(ax, "no learning curve yet")
    integer_axis(ax.xaxis)
    ax.set_xlabel("global epoch (dotted: switch to the fine-tuning phase)")
    ax.set_ylabel("val_bce")
    ax.set_title(plain(title), fontsize=9)
    return save_png(fig, path)


@no_tex
def draw_importances(values: dict, note: str, path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 0.4 * max(3, len(values)) + 1))
    if values:
        names = list(values)[::-1]
        ax.barh([plain(n) for n in names], [values[n] for n in names], color="C0")
        ax.set_xlabel("importance (sums to 1)")
    else:
        _no_data(ax, plain(note))
    ax.set_title(plain(note), fontsize=8)
    return save_png(fig, path)


@no_tex
def draw_wall_time(trials: list[TrialSummary], path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(len(trials))
    seconds = [t.seconds or 0.0 for t in trials]
    colours = [STATUS_COLOURS.get(t.status, "0.5") for t in trials]
    ax.bar(x, seconds, color=colours)
    for status in sorted({str(t.status) for t in trials}):
        ax.bar([0], [0], color=STATUS_COLOURS.get(status, "0.5"), label=plain(str(status).lower()))
    if trials:
        ax.legend(fontsize=8)
    integer_axis(ax.xaxis)
    ax.set_xlabel("trial (in the order they began)")
    ax.set_ylabel("wall time [s]")
    return save_png(fig, path)


@no_tex
def draw_cost(front: CostFront, path: Path) -> Path:
    """Objective against estimated C ns a particle; the Pareto front joined and marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    points = {point_id: (ns, objective) for point_id, ns, objective in front.points}
    if points:
        ax.scatter(*zip(*points.values(), strict=True), color="0.6", s=14, label="completed")
        xs, ys = zip(*(points[i] for i in front.front), strict=True)
        ax.step(xs, ys, where="post", color="C3")
        ax.scatter(xs, ys, color="C3", s=24, label="Pareto front", zorder=3)
        for point_id in front.front:
            ax.annotate(plain(point_id), points[point_id], fontsize=7, xytext=(3, 3),
                        textcoords="offset points")  # fmt: skip
        log_axis(ax, [ns for ns, _ in points.values()])
        ax.legend(fontsize=8)
    else:
        _no_data(ax, "no completed trial")
    ax.set_xlabel("estimated compiled-C ns per particle (batch entry)")
    ax.set_ylabel("validation cross-entropy")
    return save_png(fig, path)
