"""What a training leaves: one EpochRecord per epoch, the TrainingResult of both phases,
and whether it converged (both phases stopped by their patience, not by a cap or the
time budget)."""

from __future__ import annotations

import math
from dataclasses import dataclass


def convergence(history: list[EpochRecord], out_of_time: bool = False) -> dict:
    """Whether a two-phase training converged: each phase ran and stopped by early stopping,
    its best epoch before its last. `reason` says what did not (None when converged)."""
    reasons = []
    for phase in (1, 2):
        values = [r.val_bce for r in history if r.phase == phase]
        if not values:
            reasons.append(f"phase {phase} never ran")
        elif min(range(len(values)), key=values.__getitem__) == len(values) - 1:
            reasons.append(f"phase {phase} was still improving at its last epoch ({len(values)})")
    if out_of_time:
        reasons.append("the time budget cut the training short")
    return {"converged": not reasons, "reason": "; ".join(reasons) or None}


@dataclass
class EpochRecord:
    epoch: int
    phase: int
    learning_rate: float
    loss: float
    val_bce: float
    seconds: float


@dataclass
class TrainingResult:
    objective: float
    history: list[EpochRecord]
    epochs_1: int
    epochs_2: int
    switch_epoch: int | None
    best_epoch: int | None
    seconds: float
    rows_per_second: float

    @classmethod
    def from_history(cls, history: list[EpochRecord], rows: int, seconds: float) -> TrainingResult:
        """The result of the epochs in `history` (all of a trial's, or those before it was
        stopped): best value, epochs of each phase, switch epoch, training rows/s."""
        phases = [r.phase for r in history]
        switch = phases.index(2) if 2 in phases else None
        best = min(history, key=lambda r: r.val_bce) if history else None
        return cls(
            objective=best.val_bce if best else math.nan,
            history=list(history),
            epochs_1=phases.count(1),
            epochs_2=phases.count(2),
            switch_epoch=switch,
            best_epoch=best.epoch if best else None,
            seconds=seconds,
            rows_per_second=rows * len(history) / max(seconds, 1e-9),
        )
