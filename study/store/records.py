"""Per-trial records of a study: trials/<id>/report.json, history.csv, and trials.csv.

Every file is written atomically, so a killed study never leaves half a record.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from pathlib import Path

from study.store.atomic import write_json_atomic, write_text_atomic

HISTORY_COLUMNS = ["epoch", "phase", "learning_rate", "loss", "val_bce", "seconds"]
TABLE_FIXED = [
    "trial_id",
    "status",
    "objective",
    "epochs_1",
    "epochs_2",
    "switch_epoch",
    "best_epoch",
    "seconds",
    "rows_per_second",
    "parameters",
]


def write_history(path: Path, history: list) -> None:
    """history.csv: one row per epoch of both phases."""
    out = io.StringIO()
    writer = csv.DictWriter(out, HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in history:
        writer.writerow({k: _fmt(v) for k, v in asdict(record).items()})
    write_text_atomic(Path(path), out.getvalue())


class TrialRecords:
    """Reads and writes the records under `<study_dir>/trials/`."""

    def __init__(self, study_dir: Path):
        self.study_dir = Path(study_dir)
        self.root = self.study_dir / "trials"

    def trial_dir(self, trial_id: str) -> Path:
        return self.root / str(trial_id)

    def write_history(self, trial_id: str, history: list) -> None:
        write_history(self.trial_dir(trial_id) / "history.csv", history)

    def write_report(self, trial_id: str, report: dict) -> None:
        write_json_atomic(self.trial_dir(trial_id) / "report.json", report)

    def reports(self) -> list[dict]:
        """Every trial's report.json, in trial-id order."""
        paths = sorted(self.root.glob("*/report.json"), key=lambda p: _id_key(p.parent.name))
        return [json.loads(p.read_text()) for p in paths]

    def write_table(self) -> Path:
        """Rewrite trials.csv: one row per trial, hyperparameters as columns."""
        reports = self.reports()
        hp_names = sorted({k for r in reports for k in r.get("hyperparameters", {})})
        out = io.StringIO()
        writer = csv.DictWriter(out, TABLE_FIXED + hp_names, lineterminator="\n")
        writer.writeheader()
        for r in reports:
            row = {k: _fmt(r.get(k)) for k in TABLE_FIXED}
            row.update({k: _fmt(v) for k, v in r.get("hyperparameters", {}).items()})
            writer.writerow(row)
        path = self.study_dir / "trials.csv"
        write_text_atomic(path, out.getvalue())
        return path


def _fmt(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def _id_key(trial_id: str):
    return (0, int(trial_id)) if trial_id.isdigit() else (1, trial_id)
