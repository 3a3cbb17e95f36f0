"""A training's checkpoint directory (the retrain's `best/checkpoint/`, a trial's own):
model.keras with its optimizer state, the phase's best weights, the schedule's state and
the history, replaced as a whole directory after every epoch."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path

from study.store.atomic import swap_directory
from study.training.history import EpochRecord
from study.training.phase_logic import TwoPhaseSchedule

log = logging.getLogger(__name__)
# The key of a trial's own checkpoint (a Hyperband rung continues it, the final fit may)
RUNG_KEY = {"kind": "hyperband rung"}


class Checkpoint:
    """`best/checkpoint/`: model.keras, phase_best.weights.h5, state.json; replaced whole."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.old = self.directory.with_name(self.directory.name + ".old")

    def save(self, model, schedule: TwoPhaseSchedule, history: list, best_weights, key: dict):
        tmp = self.directory.with_name(self.directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model.save(tmp / "model.keras")
        if best_weights is not None:
            import numpy as np

            np.savez(tmp / "phase_best.npz", *best_weights)
        state = {
            "key": key,
            "schedule": schedule.to_dict(),
            "history": [asdict(r) for r in history],
        }
        (tmp / "state.json").write_text(json.dumps(state))
        swap_directory(tmp, self.directory, self.old)

    def load(self, key: dict):
        """(model, schedule, history, best_weights) of a matching checkpoint, or None."""
        directory = self.directory if self.directory.exists() else self.old
        if not (directory / "state.json").exists():
            return None
        state = json.loads((directory / "state.json").read_text())
        if state["key"] != key:
            log.info(
                "retrain: the checkpoint in %s is of another trial; starting afresh", directory
            )
            return None
        import keras
        import numpy as np

        model = keras.models.load_model(directory / "model.keras")
        best = None
        if (directory / "phase_best.npz").exists():
            with np.load(directory / "phase_best.npz") as data:
                best = [data[f"arr_{k}"] for k in range(len(data.files))]
        schedule = TwoPhaseSchedule.from_dict(state["schedule"])
        history = [EpochRecord(**r) for r in state["history"]]
        return model, schedule, history, best

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        shutil.rmtree(self.old, ignore_errors=True)
