"""What a trial's process is told: one typed record, built once by the tuner
(study/search/tuner.py) and sent through the pipe as a dict, read back without defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


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
    rung: dict | None  # a Hyperband rung: {"epochs", "from", "save"}
    tensorboard: dict | None  # {"log_dir"} with --tensorboard
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
        return cls(**{n: record[n] for n in names})
