"""What the study process learns of one trial while it runs (study/search/tuner.py): the
tuner keeps a `TrialOutcome` a running trial and writes the trial's report.json from it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from study.search.trial_messages import Started
from study.training.history import EpochRecord, TrainingResult


@dataclass
class TrialOutcome:
    """One trial's epochs so far, what its process said once its network was built, and
    its result once it has ended (None for a trial that failed or is still training)."""

    start: float = field(default_factory=time.perf_counter)  # the trial's begin, perf_counter
    history: list[EpochRecord] = field(default_factory=list)
    parameters: int | None = None  # None until the trial's process has built the network
    rows: int | None = None  # training rows an epoch
    validation_rows: int | None = None
    data_seconds: float | None = None  # loading the data in the trial's process
    build_seconds: float | None = None  # building the network there
    result: TrainingResult | None = None
    pruned: bool = False  # stopped by the oracle: its epochs so far are its result

    def started(self, message: Started) -> None:
        """The trial's process built the network (study/search/trial_process.py)."""
        self.parameters, self.rows = message.parameters, message.training_rows
        self.validation_rows = message.validation_rows
        self.data_seconds, self.build_seconds = message.data_seconds, message.build_seconds

    @property
    def phase(self) -> int:
        """The phase of the last epoch (1 before the first)."""
        return self.history[-1].phase if self.history else 1

    def seconds(self) -> float:
        """Wall seconds since the trial began."""
        return time.perf_counter() - self.start
