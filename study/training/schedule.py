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

`TwoPhaseSchedule` is the decision logic, plain code tested without training;
`train_two_phase` wraps it with one thin Keras callback.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from study.training.history import EpochRecord, TrainingResult

CONTINUE, SWITCH, STOP = "continue", "switch", "stop"
LABEL_SMOOTHING_1 = 0.01
MONITOR = "val_bce"  # the objective: best validation cross-entropy over both phases
EPOCH_METRIC = "epoch_val_bce"  # the same, per global epoch, as reported to the oracle
STEPS_PER_EXECUTION = 8  # fewer Python round trips per epoch: ~15 % faster on 2 CPU cores
JIT_COMPILE = False  # XLA under TensorFlow: slower on the notebook's network (bench_train);
# under JAX every step is XLA-compiled (uncompiled JAX runs op by op)


class NonFiniteLoss(RuntimeError):
    """The loss or the validation cross-entropy became NaN or infinite."""


@dataclass
class TwoPhaseSchedule:
    """When to switch phase, at what rate, and when to stop."""

    learning_rate: float
    fine_tune_factor: float = 0.1
    # given by every caller (StudyConfig owns the trials' and the final fit's values)
    patience_1: int = field(kw_only=True)
    patience_2: int = field(kw_only=True)
    max_epochs_1: int = field(kw_only=True)
    max_epochs_2: int = field(kw_only=True)
    min_delta: float = 0.0
    phase: int = 1
    epoch: int = 0  # global epochs finished
    epoch_in_phase: int = 0
    switch_epoch: int | None = None  # global index of the first phase-2 epoch
    best: float = math.inf  # best value of the current phase
    best_epoch: int | None = None  # global epoch of `best`
    best_overall: float = math.inf
    best_epochs: dict = field(default_factory=dict)  # phase -> global epoch of its best
    deadline: float | None = None  # time.monotonic() by which training must end (a budget)
    deadline_1: float | None = None  # by which phase 1 must end, leaving phase 2 its time
    phase_2_epochs: int = 0  # phase 1 also ends where another epoch would leave `deadline`
    # fewer than this many epochs of the same length for phase 2
    out_of_time: bool = False  # a deadline cut a phase before early stopping did
    max_total_epochs: int | None = None  # a Hyperband rung: stop at this global epoch
    label_smoothing_1: float = LABEL_SMOOTHING_1  # phase 1's label smoothing (phase 2: none)
    decay_2: float = 1.0  # phase 2's rate is multiplied by this after each of its epochs
    ema_momentum: float = 0.0  # > 0: the optimizer's moving average of the weights, copied
    # into the model at the end of every epoch (Keras's use_ema); 0: none

    @classmethod
    def from_values(cls, values: dict, **settings) -> TwoPhaseSchedule:
        """The schedule of one trial's hyperparameter values (patience and caps in `settings`)."""
        return cls(
            learning_rate=float(values["learning_rate"]),
            fine_tune_factor=float(values["fine_tune_factor"]),
            **settings,
        )

    @property
    def current_rate(self) -> float:
        if self.phase == 1:
            return self.learning_rate
        return self.learning_rate * self.fine_tune_factor * self.decay_2**self.epoch_in_phase

    @property
    def label_smoothing(self) -> float:
        return self.label_smoothing_1 if self.phase == 1 else 0.0

    def update(self, value: float) -> tuple[str, bool]:
        """Record one finished epoch's monitored value; return (decision, improved)."""
        if not math.isfinite(value):
            raise NonFiniteLoss(f"{MONITOR} is {value} at epoch {self.epoch}")
        improved = value < self.best - self.min_delta
        if improved:
            self.best, self.best_epoch = value, self.epoch
            self.best_epochs[self.phase] = self.epoch
        self.best_overall = min(self.best_overall, value)
        self.epoch += 1
        self.epoch_in_phase += 1
        patience = self.patience_1 if self.phase == 1 else self.patience_2
        cap = self.max_epochs_1 if self.phase == 1 else self.max_epochs_2
        waited = self.epoch - 1 - self.best_epoch
        if self.rung_done():
            return STOP, improved
        if waited < patience and self.epoch_in_phase < cap:
            return CONTINUE, improved
        return (SWITCH if self.phase == 1 else STOP), improved

    def time_is_up(self, now: float, epoch_seconds: float) -> bool:
        """Whether another epoch as long as the last one would end past the phase's deadline
        (`deadline_1` in phase 1, `deadline` in both; in phase 1 `deadline` less
        `phase_2_epochs` such epochs); if so the phase ends here, and the training is
        marked `out_of_time`."""
        ends = [self.deadline, self.deadline_1 if self.phase == 1 else None]
        if self.phase == 1 and self.deadline is not None:
            ends.append(self.deadline - self.phase_2_epochs * epoch_seconds)
        if any(d is not None and now + epoch_seconds > d for d in ends):
            self.out_of_time = True
            return True
        return False

    def time_left(self, now: float, epoch_seconds: float) -> bool:
        """Whether the overall deadline leaves room for another epoch."""
        return self.deadline is None or now + epoch_seconds <= self.deadline

    def rung_done(self) -> bool:
        """Whether a Hyperband rung's global epochs are reached (training may continue later)."""
        return self.max_total_epochs is not None and self.epoch >= self.max_total_epochs

    def phase_done(self) -> bool:
        """Whether the current phase has met its stopping rule (for resuming a checkpoint)."""
        if self.best_epoch is None:
            return False
        patience = self.patience_1 if self.phase == 1 else self.patience_2
        cap = self.max_epochs_1 if self.phase == 1 else self.max_epochs_2
        return self.epoch - 1 - self.best_epoch >= patience or self.epoch_in_phase >= cap

    def start_phase_2(self) -> None:
        self.phase, self.epoch_in_phase, self.switch_epoch = 2, 0, self.epoch
        self.best, self.best_epoch = math.inf, None


def _callback(schedule, history, on_epoch, best_weights, on_checkpoint):
    import keras

    class PhaseCallback(keras.callbacks.Callback):
        """Feeds the schedule; keeps the phase's best weights; stops the phase."""

        def on_train_begin(self, logs=None):
            self.best_weights, self.start = best_weights, time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()
            if schedule.phase == 2 and schedule.decay_2 != 1.0:
                self.model.optimizer.learning_rate.assign(schedule.current_rate)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            loss, value = float(logs.get("loss", math.nan)), float(logs.get(MONITOR, math.nan))
            if not math.isfinite(loss):
                raise NonFiniteLoss(f"training loss is {loss} at epoch {schedule.epoch}")
            record = EpochRecord(
                schedule.epoch,
                schedule.phase,
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
                on_epoch(record, schedule.best_overall)
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
    cap = schedule.max_epochs_1 if schedule.phase == 1 else schedule.max_epochs_2
    model.fit(
        *train,
        batch_size=batch_size,
        epochs=schedule.epoch + cap - schedule.epoch_in_phase,
        initial_epoch=schedule.epoch,
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
        if phase < schedule.phase:
            continue
        if phase == 2 and not schedule.time_left(time.monotonic(), epoch_seconds):
            break  # the budget leaves phase 2 no epoch
        if phase == 2 and schedule.switch_epoch is None:
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
