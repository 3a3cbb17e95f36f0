"""trials/<id>/report.json as a frozen record: `TrialReport`, read through `from_dict`.

A report.json is data anyone with write access to the results folder may have filled:
`from_dict` checks every field's type (a count is a whole number a float holds exactly,
a status one of `TrialStatus`, UNKNOWN where it has none) and refuses what it cannot read
with a DataError that names the file and the key. Its readers (the report, the retrain's
choice, the budget, state repair) read attributes and need no checks of their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from study.errors import DataError
from study.names import shown
from study.status import TrialStatus

MAX_COUNT = 2**53  # a count at most this: one a float holds exactly


def number(value) -> bool:
    """An int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite(value) -> bool:
    """A number (not a bool) that is neither NaN nor infinite."""
    return number(value) and math.isfinite(value)


def count(value) -> bool:
    """A whole number (not a bool) from 0 to MAX_COUNT."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


# report.json's fields by kind, each also absent or null (for `seconds` and `epochs`: 0)
REALS = (
    "objective", "c_ns_estimate", "seconds", "finished_at", "rows_per_second",
    "data_seconds", "build_seconds",
)  # fmt: skip
COUNTS = (
    "epochs_1", "epochs_2", "switch_epoch", "best_epoch", "parameters", "flops_per_particle",
    "epochs", "training_rows", "validation_rows",
)  # fmt: skip
TEXTS = ("worker", "message")
OBJECTS = ("hyperparameters", "rung")
KINDS = (
    [(k, number, "a number") for k in REALS]
    + [(k, count, "a whole number from 0 to 2**53") for k in COUNTS]
    + [(k, lambda v: isinstance(v, str), "text") for k in TEXTS]
    + [(k, lambda v: isinstance(v, dict), "a JSON object") for k in OBJECTS]
)


@dataclass(frozen=True)
class TrialReport:
    """trials/<id>/report.json: the one schema of a trial's outcome.

    Written by the tuner as a trial starts and ends, by state repair from keras-tuner's
    trial.json, and by the scripted studies of the tests; read by the report, the
    retrain's choice and state repair. Optional fields that are None are left out of
    the file; keys this version does not know are kept in `extra` and written back.
    A writer changes a report with `dataclasses.replace`.
    """

    trial_id: str
    status: TrialStatus
    objective: float | None = None
    hyperparameters: dict = field(default_factory=dict)
    epochs_1: int | None = None
    epochs_2: int | None = None
    switch_epoch: int | None = None
    best_epoch: int | None = None
    parameters: int | None = None
    flops_per_particle: int | None = None  # the network's, in the deployed C
    c_ns_estimate: float | None = None  # estimated compiled-C ns a particle (training/cost.py)
    seconds: float = 0.0  # wall time of the trial in the study process
    finished_at: float | None = None  # Unix seconds, for ended trials
    rows_per_second: float | None = None
    epochs: int = 0
    rung: dict | None = None  # Hyperband: {"epochs", "initial_epoch", "bracket", "round", ...}
    training_rows: int | None = None
    validation_rows: int | None = None
    worker: str | None = None  # the worker's tuner id in a distributed study
    data_seconds: float | None = None  # loading the data in the trial process
    build_seconds: float | None = None  # building the network there
    message: str | None = None  # the last line of a failed trial's error
    extra: dict = field(default_factory=dict)

    OMITTED_IF_NONE = (
        "rung", "worker", "data_seconds", "build_seconds", "message", "flops_per_particle",
        "c_ns_estimate",
    )  # fmt: skip

    def __post_init__(self):
        # a status given as its text (a writer's, or a test's) becomes the member;
        # a text that is none is a ValueError (from_dict names the file instead)
        object.__setattr__(self, "status", TrialStatus(self.status))

    def to_dict(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or (f.name in self.OMITTED_IF_NONE and value is None):
                continue
            out[f.name] = str(value) if f.name == "status" else value
        return {**out, **self.extra}

    @classmethod
    def from_dict(cls, raw, source: str = "report.json") -> TrialReport:
        """The report of the JSON object `raw`, read from `source` (a path, for messages);
        a DataError names it and the key whose value is not of its field's kind."""
        if not isinstance(raw, dict):
            raise DataError(f"{source}: not a JSON object")
        for key, kind, words in KINDS:
            if raw.get(key) is not None and not kind(raw[key]):
                raise DataError(f"{source}: {key} is not {words}")
        trial_id, status = raw.get("trial_id"), raw.get("status", TrialStatus.UNKNOWN)
        if not isinstance(trial_id, str | int) or isinstance(trial_id, bool):
            raise DataError(f"{source}: trial_id {shown(trial_id)} is not text")
        if not isinstance(status, str) or status not in TrialStatus.__members__:
            raise DataError(f"{source}: status {shown(status)} is not a trial status")
        known = {f.name for f in fields(cls)} - {"extra"}
        given = {k: v for k, v in raw.items() if k in known and v is not None}
        return cls(
            **{**given, "trial_id": str(trial_id), "status": TrialStatus(status)},
            extra={k: v for k, v in raw.items() if k not in known},
        )
