"""What a trial's process is told: one typed record, built once by the tuner
(study/search/tuner.py) and sent through the pipe as a dict, read back without defaults;
where it keeps its checkpoint (`RungSpec`) and its TensorBoard logs (`BoardSpec`) are
records of their own."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class RungSpec:
    """Where a trial keeps its last epoch (for a Hyperband rung continuing it, the final
    fit, and the final fit's guard), and a Hyperband trial's epochs and parent."""

    save: str  # the trial's checkpoint directory
    epochs: int | None = None  # the global epochs a Hyperband rung trains to (None: no rung)
    parent: str | None = None  # the checkpoint of the trial it continues (None: afresh)


@dataclass(frozen=True)
class BoardSpec:
    """Where and what a trial's process logs for TensorBoard (--tensorboard)."""

    log_dir: str
    trial_id: str
    hyperparameters: dict  # keras-tuner's HyperParameters config, for the HParams dashboard


@dataclass(frozen=True)
class TrialSpec:
    trial_id: str
    data: str  # the prepared dataset's directory
    values: dict  # the trial's hyperparameters, rung keys split off
    seed: int  # initialisation and shuffling (study/seeds.py)
    train_rows: int | None  # the subsample (None: the whole split)
    validation_rows: int | None
    sample_seed: int
    deadline: float | None  # time.monotonic() past which the trial stops (None: none)
    rung: RungSpec | None  # where it keeps its checkpoint, a Hyperband rung's epochs
    tensorboard: BoardSpec | None  # with --tensorboard
    schedule: dict  # TwoPhaseSchedule's settings: patience, epochs, label smoothing

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> TrialSpec:
        """The spec in `record`; a missing or unknown key is a ValueError naming it."""
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in record]
        unknown = sorted(set(record) - set(names))
        if missing or unknown:
            raise ValueError(
                "trial spec: "
                + "; ".join(
                    [*([f"missing {', '.join(missing)}"] if missing else []),
                     *([f"unknown {', '.join(unknown)}"] if unknown else [])]
                )
            )  # fmt: skip
        rung, board = record["rung"], record["tensorboard"]
        return cls(**{
            **{n: record[n] for n in names},
            "rung": RungSpec(**rung) if rung is not None else None,
            "tensorboard": BoardSpec(**board) if board is not None else None,
        })  # fmt: skip
