"""The two-phase schedule's decision logic (the training is study/training/schedule.py):
plain code, tested without training.

`TwoPhaseSchedule` holds three records: its `ScheduleSettings` (rates, patiences, caps,
smoothing; frozen, changed on a resume by `retune` alone), the `RunLimits` of one run
(deadlines, a Hyperband rung; frozen, given by `run_within`) and its `ScheduleState`
(phase, epochs, bests), which only the schedule's methods write. A checkpoint saves the
settings and the state (`to_dict`, `from_dict`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

from study.errors import TrainingFailed

CONTINUE, SWITCH, STOP = "continue", "switch", "stop"
LABEL_SMOOTHING_1 = 0.01
MONITOR = "val_bce"  # the objective: best validation cross-entropy over both phases


@dataclass(frozen=True)
class ScheduleSettings:
    """What the training is: its rates, patiences, epoch caps, smoothing and averaging."""

    learning_rate: float
    fine_tune_factor: float = 0.1
    # given by every caller (StudyConfig owns the trials' and the final fit's values)
    patience_1: int = field(kw_only=True)
    patience_2: int = field(kw_only=True)
    max_epochs_1: int = field(kw_only=True)
    max_epochs_2: int = field(kw_only=True)
    min_delta: float = 0.0
    label_smoothing_1: float = LABEL_SMOOTHING_1  # phase 1's label smoothing (phase 2: none)
    decay_2: float = 1.0  # phase 2's rate is multiplied by this after each of its epochs
    ema_momentum: float = 0.0  # > 0: the optimizer's moving average of the weights, copied
    # into the model at the end of every epoch (Keras's use_ema); 0: none

    def stopping(self, phase: int) -> tuple[int, int]:
        """(patience, epoch cap) of `phase`."""
        if phase == 1:
            return self.patience_1, self.max_epochs_1
        return self.patience_2, self.max_epochs_2


@dataclass(frozen=True)
class RunLimits:
    """Where one run (a trial, a Hyperband rung of it, the final fit, a resume of either)
    must end besides early stopping: given by that run, never saved in a checkpoint."""

    deadline: float | None = None  # time.monotonic() by which training must end (a budget)
    deadline_1: float | None = None  # by which phase 1 must end, leaving phase 2 its time
    phase_2_epochs: int = 0  # phase 1 also ends where another epoch would leave `deadline`
    # fewer than this many epochs of the same length for phase 2
    max_total_epochs: int | None = None  # a Hyperband rung: stop at this global epoch


@dataclass
class ScheduleState:
    """Where the training is: written by TwoPhaseSchedule's methods alone."""

    phase: int = 1
    epoch: int = 0  # global epochs finished
    epoch_in_phase: int = 0
    switch_epoch: int | None = None  # global index of the first phase-2 epoch
    best: float = math.inf  # best value of the current phase
    best_epoch: int | None = None  # global epoch of `best`
    best_overall: float = math.inf
    best_epochs: dict = field(default_factory=dict)  # phase -> global epoch of its best
    out_of_time: bool = False  # a deadline cut a phase before early stopping did


class NonFiniteLoss(TrainingFailed):
    """The loss or the validation cross-entropy became NaN or infinite."""


class TwoPhaseSchedule:
    """When to switch phase, at what rate, and when to stop: frozen `settings`, one run's
    frozen `limits` (`run_within`) and the `state` that only these methods write."""

    __slots__ = ("settings", "limits", "state")

    def __init__(
        self,
        settings: ScheduleSettings,
        state: ScheduleState | None = None,
        limits: RunLimits | None = None,
    ):
        self.settings = settings
        self.state = ScheduleState() if state is None else state
        self.limits = RunLimits() if limits is None else limits

    @classmethod
    def from_values(cls, values: dict, **settings) -> TwoPhaseSchedule:
        """The schedule of one trial's hyperparameter values (patience and caps in `settings`)."""
        return cls(
            ScheduleSettings(
                learning_rate=float(values["learning_rate"]),
                fine_tune_factor=float(values["fine_tune_factor"]),
                **settings,
            )
        )

    def to_dict(self) -> dict:
        """The settings and the state in one flat dict (a checkpoint's `schedule`)."""
        return {**asdict(self.settings), **asdict(self.state)}

    @classmethod
    def from_dict(cls, saved: dict) -> TwoPhaseSchedule:
        """The schedule `to_dict` gave; the limits of a checkpoint of before the split (its
        deadlines, its rung) are left out: every run gives its own."""

        def given(kind) -> dict:
            return {f.name: saved[f.name] for f in fields(kind) if f.name in saved}

        state = ScheduleState(**given(ScheduleState))
        state.best_epochs = {int(k): v for k, v in state.best_epochs.items()}  # JSON's keys
        return cls(ScheduleSettings(**given(ScheduleSettings)), state)

    def run_within(self, limits: RunLimits) -> None:
        """Start a run, afresh or resumed, under `limits`: an earlier run's cut is forgotten."""
        self.limits, self.state.out_of_time = limits, False

    def retune(self, **changes) -> None:
        """Change settings on a resume (the final fit's patiences may change)."""
        self.settings = replace(self.settings, **changes)

    @property
    def current_rate(self) -> float:
        settings, state = self.settings, self.state
        if state.phase == 1:
            return settings.learning_rate
        start = settings.learning_rate * settings.fine_tune_factor
        return start * settings.decay_2**state.epoch_in_phase

    @property
    def label_smoothing(self) -> float:
        return self.settings.label_smoothing_1 if self.state.phase == 1 else 0.0

    def update(self, value: float) -> tuple[str, bool]:
        """Record one finished epoch's monitored value; return (decision, improved)."""
        state = self.state
        if not math.isfinite(value):
            raise NonFiniteLoss(f"{MONITOR} is {value} at epoch {state.epoch}")
        improved = value < state.best - self.settings.min_delta
        if improved:
            state.best, state.best_epoch = value, state.epoch
            state.best_epochs[state.phase] = state.epoch
        state.best_overall = min(state.best_overall, value)
        state.epoch += 1
        state.epoch_in_phase += 1
        if self.rung_done():
            return STOP, improved
        if not self.phase_done():
            return CONTINUE, improved
        return (SWITCH if state.phase == 1 else STOP), improved

    def time_is_up(self, now: float, epoch_seconds: float) -> bool:
        """Whether another epoch as long as the last one would end past the phase's deadline
        (`deadline_1` in phase 1, `deadline` in both; in phase 1 `deadline` less
        `phase_2_epochs` such epochs); if so the phase ends here, and the training is
        marked `out_of_time`."""
        limits, phase_1 = self.limits, self.state.phase == 1
        ends = [limits.deadline, limits.deadline_1 if phase_1 else None]
        if phase_1 and limits.deadline is not None:
            ends.append(limits.deadline - limits.phase_2_epochs * epoch_seconds)
        if any(d is not None and now + epoch_seconds > d for d in ends):
            self.state.out_of_time = True
            return True
        return False

    def time_left(self, now: float, epoch_seconds: float) -> bool:
        """Whether the overall deadline leaves room for another epoch."""
        return self.limits.deadline is None or now + epoch_seconds <= self.limits.deadline

    def rung_done(self) -> bool:
        """Whether a Hyperband rung's global epochs are reached (training may continue later)."""
        rung = self.limits.max_total_epochs
        return rung is not None and self.state.epoch >= rung

    def phase_done(self) -> bool:
        """Whether the current phase has met its stopping rule: `patience` epochs without
        improvement, or its epoch cap (also on resuming a checkpoint)."""
        state = self.state
        if state.best_epoch is None:
            return False
        patience, cap = self.settings.stopping(state.phase)
        return state.epoch - 1 - state.best_epoch >= patience or state.epoch_in_phase >= cap

    def phase_end(self) -> int:
        """The global epoch at which the current phase reaches its cap (Keras's `epochs`)."""
        state = self.state
        return state.epoch + self.settings.stopping(state.phase)[1] - state.epoch_in_phase

    def start_phase_2(self) -> None:
        state = self.state
        state.phase, state.epoch_in_phase, state.switch_epoch = 2, 0, state.epoch
        state.best, state.best_epoch = math.inf, None
