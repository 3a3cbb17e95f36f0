"""What the tests and benches read of a study that the study itself never needs."""

from __future__ import annotations

import json
from pathlib import Path

from study.status import TrialStatus
from study.store.records import TrialRecords, TrialReport


def completed_records(study_dir: Path) -> dict[str, bytes]:
    """Trial id -> report.json bytes, for the trials the oracle holds as COMPLETED."""
    study_dir = Path(study_dir)
    out = {}
    for path in (study_dir / "tuner").glob("trial_*/trial.json"):
        trial = json.loads(path.read_text())
        if trial["status"] == TrialStatus.COMPLETED:
            report = study_dir / "trials" / trial["trial_id"] / "report.json"
            out[trial["trial_id"]] = report.read_bytes()
    return out


def read_report(study_dir: Path, trial_id: str) -> TrialReport:
    """trials/<trial_id>/report.json as a TrialReport."""
    path = TrialRecords(study_dir).trial_dir(trial_id) / "report.json"
    return TrialReport.from_dict(json.loads(path.read_text()), str(path))


def optuna_study(oracle):
    """The Optuna study an OptunaOracle (study/search/optuna_oracle.py) asks and tells."""
    return oracle._study


def fit_from_values(values: dict, train, validation, seed: int, callbacks=None, **schedule):
    """A fresh network of `values` trained both phases: (model, result)."""
    from study.training import fit

    begin = fit.start(values, train[0].shape[1], seed, **schedule)
    return begin.model, fit.fit(values, begin, train, validation, callbacks=callbacks)
