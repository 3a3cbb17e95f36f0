"""study/report/plots.py: axes a physicist can read."""

from __future__ import annotations

import pytest

from study.report.plots import integer_axis, log_axis
from study.store.figures import pyplot


def _labels(ax, which="x") -> list[str]:
    ax.figure.canvas.draw()
    ticks = ax.get_xticklabels() if which == "x" else ax.get_yticklabels()
    return [t.get_text() for t in ticks if t.get_text()]


def test_trial_axes_have_whole_number_ticks():
    fig, (plain, fixed) = pyplot().subplots(1, 2)
    for ax in (plain, fixed):
        ax.plot([0, 1, 2], [0.3, 0.2, 0.25], "o")
    integer_axis(fixed.xaxis)
    fixed.figure.canvas.draw()
    assert any(t % 1 for t in plain.get_xticks())  # what matplotlib does alone: 0.25 steps
    shown = [t for t in fixed.get_xticks() if -0.1 <= t <= 2.1]
    assert shown and all(t % 1 == 0 for t in shown)
    pyplot().close(fig)


@pytest.mark.parametrize(
    "values, at_least",
    [([0.0041, 0.0068], 3), ([3e-4, 2.9e-2], 4), ([0.01, 0.01], 3)],
)
def test_log_axes_are_labelled_however_narrow(values, at_least):
    fig, ax = pyplot().subplots()
    ax.plot(values, [1] * len(values), "o")
    log_axis(ax, values)
    labels = _labels(ax)
    low, high = ax.get_xlim()
    inside = [t for t in ax.get_xticks() if low <= t <= high]
    assert len(inside) >= at_least and len(labels) >= at_least, (labels, inside)
    assert all(float(text.replace("\u2212", "-")) > 0 for text in labels)
    pyplot().close(fig)
