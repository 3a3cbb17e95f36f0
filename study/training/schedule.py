"""Two-phase learning-rate training of one model.

Phase 1 trains at the trial's learning rate with label smoothing (the study's
`label_smoothing`, 0.01 by default) until the validation cross-entropy has not
improved for `patience_1` epochs (or `max_epochs_1`), then its best weights are
restored; phase 2 trains at `learning_rate * fine_tune_factor` (times `decay_2` to the
power of its epoch, 1 by default) without smoothing until no improvement for
`patience_2` epochs (or `max_epochs_2`), and its best weights are restored. With
`ema_momentum` the optimizer averages the weights and copies the average into the
model at the end of every epoch, so that the validation sees the averaged weights.

The monitored quantity is the validation binary cross-entropy *metric*
(`val_bce`: no smoothing, no regularisation term), so phases and trials compare.
Epochs are counted globally across the phases.

`TwoPhaseSchedule` (study/training/phase_logic.py) is the decision logic, plain code
tested without training: its frozen settings, one run's frozen limits, and the state only
its methods write; `train_two_phase` wraps it with one thin Keras callback.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

from study.training.history import EpochRecord, TrainingResult
from study.training.phase_logic import CONTINUE, MONITOR, STOP, NonFiniteLoss, TwoPhaseSchedule

EPOCH_METRIC = "epoch_val_bce"  # the same, per global epoch, as reported to the oracle
STEPS_PER_EXECUTION = 8  # fewer Python round trips per epoch: ~15 % faster on 2 CPU cores
JIT_COMPILE = False  # XLA under TensorFlow: slower on the notebook's network (bench_train);
# under JAX every step is XLA-compiled (uncompiled JAX runs op by op)


def _callback(schedule, history, on_epoch, best_weights, on_checkpoint):
    import keras

    class PhaseCallback(keras.callbacks.Callback):
        """Feeds the schedule; keeps the phase's best weights; stops the phase."""

        def on_train_begin(self, logs=None):
            self.best_weights, self.start = best_weights, time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()
            if schedule.state.phase == 2 and schedule.settings.decay_2 != 1.0:
                self.model.optimizer.learning_rate.assign(schedule.current_rate)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            loss, value = float(logs.get("loss", math.nan)), float(logs.get(MONITOR, math.nan))
            if not math.isfinite(loss):
                raise NonFiniteLoss(f"training loss is {loss} at epoch {schedule.state.epoch}")
            record = EpochRecord(
                schedule.state.epoch,
                schedule.state.phase,
                schedule.current_rate,
                loss,
                value,
                time.perf_counter() - self.start,
            )
            decision, improved = schedule.update(value)
            if improved:
                self.best_weights = self.model.get_weights()
            history.append(record)
            # before the checkpoint: a phase the deadline ends is marked `out_of_time`, so
            # that a trial's last epoch is saved whatever ended it
            late = decision != STOP and schedule.time_is_up(time.monotonic(), record.seconds)
            if on_checkpoint is not None:
                on_checkpoint(self.model, schedule, history, self.best_weights)
            if on_epoch is not None:
                on_epoch(record, schedule.state.best_overall)
            if decision != CONTINUE or late:
                self.model.stop_training = True
                self.epoch_seconds = record.seconds

    return PhaseCallback()


def _compile(model, optimizer, label_smoothing: float) -> None:
    import keras

    model.compile(
        optimizer=optimizer,
        loss=keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing),
        metrics=[keras.metrics.BinaryCrossentropy(name="bce")],
        steps_per_execution=STEPS_PER_EXECUTION,
        jit_compile=JIT_COMPILE or keras.backend.backend() == "jax",
    )


def _fit_phase(model, schedule, train, validation, batch_size: int, callbacks: list) -> None:
    """The current phase's epochs, up to its cap, from the schedule's epoch on."""
    model.fit(
        *train,
        batch_size=batch_size,
        epochs=schedule.phase_end(),
        initial_epoch=schedule.state.epoch,
        validation_data=validation,
        validation_batch_size=8192,
        shuffle=True,
        callbacks=callbacks,
        verbose=0,
    )


def train_two_phase(
    model,
    optimizer_factory: Callable[[float], object],
    schedule: TwoPhaseSchedule,
    train: tuple,
    validation: tuple,
    batch_size: int,
    on_epoch: Callable[[EpochRecord, float], None] | None = None,
    *,
    history: list[EpochRecord] | None = None,
    compiled: bool = False,
    best_weights: list | None = None,
    on_checkpoint: Callable | None = None,
    callbacks: list | None = None,
) -> TrainingResult:
    """Run both phases on in-memory (features, labels) arrays; return the objective and history.

    `on_epoch(record, best_so_far)` is called after every epoch (progress, reporting);
    `on_checkpoint(model, schedule, history, best_weights)` too, for a resumable
    run. To resume, pass the restored `schedule`, `history` and the phase's
    `best_weights`, with `compiled=True` if `model` carries the phase's optimizer state.
    `callbacks` are further Keras callbacks of both phases (TensorBoard).
    """
    history = list(history or [])
    inherited = len(history)
    firsts = []  # the first epoch of each fit call: it traces and compiles
    start = time.perf_counter()
    epoch_seconds = 0.0
    for phase in (1, 2):
        if phase < schedule.state.phase:
            continue
        if phase == 2 and not schedule.time_left(time.monotonic(), epoch_seconds):
            break  # the budget leaves phase 2 no epoch
        if phase == 2 and schedule.state.switch_epoch is None:
            schedule.start_phase_2()
            compiled, best_weights = False, None
        if not compiled:
            _compile(model, optimizer_factory(schedule.current_rate), schedule.label_smoothing)
        compiled = False
        callback = _callback(schedule, history, on_epoch, best_weights, on_checkpoint)
        if not schedule.phase_done():
            firsts.append(len(history))
            _fit_phase(
                model, schedule, train, validation, batch_size, [callback, *(callbacks or [])]
            )
            epoch_seconds = getattr(callback, "epoch_seconds", 0.0)
            if schedule.rung_done():
                break  # a Hyperband rung: the weights stay as they are, to be continued
        else:
            callback.best_weights = best_weights
        weights = getattr(callback, "best_weights", None) or best_weights
        if weights is not None:
            model.set_weights(weights)
        best_weights = None
    seconds = time.perf_counter() - start
    result = TrainingResult.from_history(history, len(train[0]), seconds)
    result.rows_per_second = steady_rate(history[inherited:], firsts, inherited, len(train[0]))
    if result.rows_per_second is None:
        result.rows_per_second = len(train[0]) * (len(history) - inherited) / max(seconds, 1e-9)
    return result


def steady_rate(records: list, firsts: list[int], offset: int, rows: int) -> float | None:
    """Training rows a second of the median epoch that was not the first of its fit call
    (validation included, tracing and compiling not): the rate a longer fit of the same
    network and batch runs at. None where every epoch was a first."""
    seconds = sorted(r.seconds for i, r in enumerate(records, offset) if i not in firsts)
    if not seconds:
        return None
    return rows / max(statistics.median(seconds), 1e-9)
