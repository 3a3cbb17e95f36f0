"""The study's progress lines on the terminal: a trial's start (its values, the best so
far, the time left), each epoch, its end."""

from __future__ import annotations

import logging
import time

from study.durations import duration_text

log = logging.getLogger(__name__)


class Progress:
    """Terminal progress: trial k of N, epochs, best so far, elapsed and time left.

    A worker of a distributed study (`total` None) counts its own trials only."""

    def __init__(self, total: int | None, ended_before: int, budget=None):
        self.total, self.ended_before, self.budget = total, ended_before, budget
        self.start = time.perf_counter()
        self.ended_now = 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> str:
        if not self.ended_now or self.total is None:
            return "?"
        remaining = self.total - self.ended_before - self.ended_now
        return duration_text(self.elapsed() / self.ended_now * max(remaining, 0))

    def trial_begin(self, trial_id: str, values: dict, best: float | None) -> None:
        k = self.ended_before + self.ended_now + 1
        shown = ", ".join(
            [f"{n}={_short(v)}" for n, v in values.items() if not n.startswith("tuner/")]
            + rung_text(values)
        )
        best_text = f"{best:.5f}" if best is not None else "-"
        log.info(
            "trial %d of %s (id %s): %s | best so far %s | elapsed %s, left ~%s%s",
            k,
            self.total or "this worker",
            trial_id,
            shown,
            best_text,
            duration_text(self.elapsed()),
            self.left(),
            f" | budget {self.budget.status()}" if self.budget and self.budget.total_s else "",
        )

    def epoch(self, record, best: float) -> None:
        log.info(
            "  epoch %3d  phase %d  lr %.2e  loss %.5f  val_bce %.5f  (trial best %.5f)",
            record.epoch,
            record.phase,
            record.learning_rate,
            record.loss,
            record.val_bce,
            best,
        )

    def pruned(self, trial_id: str, epoch: int) -> None:
        log.info("  trial %s pruned after global epoch %d", trial_id, epoch)

    def trial_end(self, trial_id: str, status: str, objective: float | None) -> None:
        self.ended_now += 1
        value = f"{objective:.5f}" if objective is not None else "-"
        log.info(
            "trial %s %s: objective %s | elapsed %s, left ~%s",
            trial_id,
            status.lower(),
            value,
            duration_text(self.elapsed()),
            self.left(),
        )


def rung_text(values: dict) -> list[str]:
    """Hyperband's bookkeeping (`tuner/bracket`, `tuner/round`, `tuner/initial_epoch`,
    `tuner/epochs`, `tuner/trial_id`) in words: ["rung 2 of 3, epochs 3-9, continues trial
    04"]; [] for a trial of another tuner. Bracket b has b + 1 rounds (keras-tuner)."""
    if "tuner/epochs" not in values:
        return []
    rounds = int(values.get("tuner/bracket", 0)) + 1
    text = (
        f"rung {int(values.get('tuner/round', 0)) + 1} of {rounds}, "
        f"epochs {int(values.get('tuner/initial_epoch', 0)) + 1}-{int(values['tuner/epochs'])}"
    )
    parent = values.get("tuner/trial_id")
    return [text + (f", continues trial {parent}" if parent else "")]


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
