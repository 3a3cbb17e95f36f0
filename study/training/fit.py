"""Fit from values: one trial's hyperparameters -> a seeded network and its two-phase
schedule -> trained. The trial process, the retrain and the benches all train this way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from study.training.history import TrainingResult
from study.training.network import build_from_values, make_optimizer
from study.training.phase_logic import TwoPhaseSchedule
from study.training.schedule import train_two_phase


@dataclass
class Start:
    """Where a fit starts: a fresh network and schedule, or a checkpoint's."""

    model: object
    schedule: TwoPhaseSchedule
    history: list = field(default_factory=list)
    best_weights: list | None = None
    resumed: bool = False  # a checkpoint's model, compiled already


def start(values: dict, n_inputs: int, seed: int, restored=None, **schedule) -> Start:
    """The network of `values` seeded with `seed` and its schedule (keyword arguments of
    TwoPhaseSchedule.from_values), or `restored` = (model, schedule, history, best_weights)."""
    if restored is not None:
        return Start(*restored, resumed=True)
    import keras

    keras.utils.set_random_seed(seed)
    return Start(
        build_from_values(n_inputs, values), TwoPhaseSchedule.from_values(values, **schedule)
    )


def fit(
    values: dict, begin: Start, train, validation, on_epoch=None, on_checkpoint=None,
    callbacks=None,
) -> TrainingResult:  # fmt: skip
    """Train `begin` on (x, y) arrays `train` and `validation`, both phases."""
    batch = int(values["batch_size"])
    steps = -(-len(train[0]) // batch)  # an epoch's steps: the moving average's copy period
    ema = begin.schedule.settings.ema_momentum
    return train_two_phase(
        begin.model,
        lambda lr: make_optimizer(values["optimizer"], lr, ema, steps),
        begin.schedule,
        train,
        validation,
        batch,
        on_epoch,
        history=begin.history,
        compiled=begin.resumed,
        best_weights=begin.best_weights,
        on_checkpoint=on_checkpoint,
        callbacks=callbacks,
    )
