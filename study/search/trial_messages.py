"""What a trial's process sends its study process through their pipe, one dataclass a kind
(study/search/trial_process.py): `Started` once the network is built, an `Epoch` per epoch,
then one of `Done`, `Diverged` or `Raised`. The pipe pickles them; both ends import this
module, so a message is read by its attributes, never by its position."""

from __future__ import annotations

from dataclasses import dataclass

from study.training.history import EpochRecord, TrainingResult


@dataclass(frozen=True)
class Started:
    """The trial's data are loaded and its network built."""

    parameters: int  # the network's trainable and other weights
    training_rows: int  # the rows each epoch trains on (the search's subsample)
    validation_rows: int  # the rows each epoch validates on
    data_seconds: float  # loading and sampling the data
    build_seconds: float  # building the network (or loading the checkpoint it continues)


@dataclass(frozen=True)
class Epoch:
    """One epoch ended: its record and the best validation cross-entropy so far."""

    record: EpochRecord
    best: float


@dataclass(frozen=True)
class Done:
    """The training ended: its result, without the history (the parent holds the epochs
    it was sent one by one)."""

    result: TrainingResult


@dataclass(frozen=True)
class Diverged:
    """The loss became NaN or infinite: the message says where."""

    message: str


@dataclass(frozen=True)
class Raised:
    """The trial's process raised: its traceback."""

    traceback: str


Message = Started | Epoch | Done | Diverged | Raised
