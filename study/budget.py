"""The study's wall-time budget (`--time-budget 30m`): spent, left, and when to stop searching.

The budget covers the whole command: data, search, retrain, validation, export and
report. The search stops starting trials once what is left would no longer hold
one more trial, the final fit of the trial it would take now (study/choice.py `pick`:
its trial's measured epoch scaled by the work of the whole splits and by the batch cost
the study's trials measured) and the final stages;
the retrain itself stops at the deadline left for the final stages, and says so.

`results/<study>/budget.json` keeps the seconds spent by earlier runs of the
study, so a resumed study honours what is left of its budget.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

from study.durations import duration_text, parse_duration
from study.store.atomic import write_json_atomic

log = logging.getLogger(__name__)
FILE = "budget.json"
# Epochs a final fit from scratch needs (both phases to early stopping, patience 5 and 3).
# Measured with bench_zoo.py on profiles of 24,833 to 1,250,088 training rows (49 to 611
# optimizer steps an epoch, bench/README.md "What the final fit's estimate rests on"): the
# converged final fits took 20 to 45 epochs, a count that follows the patience (in epochs)
# rather than the steps; RETRAIN_EPOCHS holds all of them.
RETRAIN_EPOCHS = 45
RETRAIN_SHARE = 0.6  # at most this share of the budget is held back from the search for it
# What a validation row costs against a training row (a forward pass, no backward one).
VALIDATION_ROW_COST = 1 / 3
# The fewest trials, of two batch sizes at least, from which a change of batch is estimated.
BATCH_FIT_MIN_TRIALS = 4
# validation, export and report: a fixed part and the test rows' share (measured: ~50 s for
# the default sample's 1 M test rows, ~10 s for a few thousand)
FINISH_SECONDS = 10.0
FINISH_ROWS_PER_SECOND = 25_000.0


class Budget:
    """Seconds spent by this study (earlier runs included) against its budget (None: none)."""

    def __init__(self, total_s: float | None, start: float | None = None):
        self.total_s = total_s
        self.start = time.monotonic() if start is None else start
        self.spent_before = 0.0
        self.path: Path | None = None
        self.retrain = True  # False (--no-retrain): nothing held back for retrain and export

    @classmethod
    def of(cls, time_budget: str | None, start: float | None = None) -> Budget:
        return cls(parse_duration(time_budget) if time_budget else None, start)

    def attach(self, study_dir: Path) -> None:
        """Count the seconds that earlier runs of the study spent (budget.json), and save here."""
        self.path = Path(study_dir) / FILE
        try:
            self.spent_before = float(json.loads(self.path.read_text())["spent_s"])
        except (OSError, ValueError, KeyError, TypeError):
            self.spent_before = 0.0

    def spent(self) -> float:
        return self.spent_before + time.monotonic() - self.start

    def left(self) -> float | None:
        return None if self.total_s is None else self.total_s - self.spent()

    def deadline(self, reserve_s: float = 0.0) -> float | None:
        """The `time.monotonic()` value by which work must end to leave `reserve_s`."""
        left = self.left()
        return None if left is None else time.monotonic() + left - reserve_s

    def save(self) -> None:
        if self.path is not None:
            write_json_atomic(self.path, {"budget_s": self.total_s, "spent_s": self.spent()})

    def status(self) -> str:
        """ "12m03s of 30m00s spent, 17m57s left" (or the time spent where there is no budget)."""
        if self.total_s is None:
            return f"{duration_text(self.spent())} spent"
        return (
            f"{duration_text(self.spent())} of {duration_text(self.total_s)} spent, "
            f"{duration_text(self.left())} left"
        )


def finish_seconds(test_rows: int) -> float:
    """Validation, export and report of a retrained model, from the test split's size."""
    return FINISH_SECONDS + test_rows / FINISH_ROWS_PER_SECOND


def epoch_work(train_rows: int, validation_rows: int) -> float:
    """An epoch's work in training rows: its training pass and its validation pass."""
    return train_rows + VALIDATION_ROW_COST * validation_rows


def final_epoch_seconds(
    rows_per_second: float, trial_rows: tuple[int, int], final_rows: tuple[int, int]
) -> float:
    """One epoch of the final fit on `final_rows` (training, validation) at the rate a trial
    measured on `trial_rows`: the trial's epoch (its training rows at `rows_per_second`,
    validation included) scaled by the work of the two epochs."""
    trial_epoch_s = trial_rows[0] / max(rows_per_second, 1e-9)
    return trial_epoch_s * epoch_work(*final_rows) / max(epoch_work(*trial_rows), 1.0)


def retrain_seconds(epoch_seconds: float) -> float:
    """A final fit of RETRAIN_EPOCHS epochs of `epoch_seconds` each."""
    return RETRAIN_EPOCHS * epoch_seconds


def batch_cost_ratio(
    samples: list[tuple[float, int, float]], flops: float, batch: int, to_batch: int
) -> float:
    """How a row's seconds change from `batch` to `to_batch` for a network of `flops` a row.

    `samples` are this study's trials as (flops a row, batch size, seconds a row of work);
    the fit, a * flops + b / batch + c with a, b, c >= 0 (a per-row arithmetic, a per-step
    and a fixed share), weighs each trial by its relative error. 1 where the trials cannot
    tell: fewer than BATCH_FIT_MIN_TRIALS of them, or a single batch size.
    """
    usable = [s for s in samples if all(math.isfinite(v) and v > 0 for v in s)]
    usable = [s for s in usable if math.isfinite(1.0 / s[2])]
    if batch == to_batch or len(usable) < BATCH_FIT_MIN_TRIALS or len({s[1] for s in usable}) < 2:
        return 1.0
    import numpy as np
    from scipy.optimize import nnls

    x = np.array([[f, 1.0 / b, 1.0] for f, b, _ in usable])
    scale = x.max(axis=0)
    y = np.array([s[2] for s in usable])
    try:
        coef, _ = nnls(x / scale / y[:, None], np.ones(len(y)))
    except (ValueError, RuntimeError):  # not finite, or no convergence: nothing measured
        return 1.0
    coef = coef / scale

    def per_row(size: int) -> float:
        return float(coef @ [flops, 1.0 / size, 1.0])

    ratio = per_row(to_batch) / per_row(batch) if per_row(batch) > 0 else 1.0
    return ratio if math.isfinite(ratio) and ratio > 0 else 1.0


def retrain_reserve(budget: Budget, retrain_s: float | None) -> float:
    """Seconds held back from the search for the retrain: its estimate, at most
    RETRAIN_SHARE of the budget (that share while no trial has measured a rate)."""
    cap = RETRAIN_SHARE * (budget.total_s or 0.0)
    return cap if retrain_s is None else min(retrain_s, cap)


def search_should_stop(
    budget: Budget, trial_seconds: list[float], retrain_s: float | None, finish_s: float
) -> str | None:
    """Why no further trial fits in what is left (None: one more fits, or no budget).

    One more trial is assumed to take the median of the ended ones; the retrain is held
    at most RETRAIN_SHARE of the budget (a slower one is cut by its deadline). Before
    any trial has measured a rate (`retrain_s` None), the search goes on.
    """
    left = budget.left()
    if left is None or retrain_s is None:
        return None
    retrain_s = retrain_reserve(budget, retrain_s)
    ordered = sorted(trial_seconds)
    trial_s = ordered[len(ordered) // 2] if ordered else 0.0
    if left >= trial_s + retrain_s + finish_s:
        return None
    kept = (
        f"the retrain (~{duration_text(retrain_s)}) and validation, export and report "
        f"(~{duration_text(finish_s)})"
        if budget.retrain
        else f"the report (~{duration_text(finish_s)})"  # --no-retrain
    )
    return (
        f"time budget: {duration_text(left)} left, kept for {kept}; "
        f"no further trial (~{duration_text(trial_s)}) fits"
    )


UNUSED_S = 60.0  # a study that ends with more of its budget left says why


def unused(budget: Budget, ended: int, trials: int) -> str | None:
    """Why a finished study left UNUSED_S or more of its budget (None: it did not)."""
    left = budget.left()
    if left is None or left < UNUSED_S:
        return None
    if ended >= trials:
        return (
            f"{duration_text(left)} of the budget unused: all {trials} trials (--trials) had "
            "ended and the final fit converged or stopped sooner; a larger --trials spends "
            "it on the search"
        )
    return (
        f"{duration_text(left)} of the budget unused: the final fit and the final stages took "
        "less than held back for them"
    )
