"""`results/<study>/optuna.db`: the study's ended trials mirrored into an Optuna RDB
storage (SQLite), so that `optuna-dashboard sqlite:///results/<study>/optuna.db` shows a
study of any tuner (keras-tuner's random, Bayesian, Hyperband, or Optuna's) while it runs.

`sync` adds every ended trial (report.json COMPLETED, PRUNED or FAILED) that the storage
does not hold yet: its searched parameters, its value (the objective; none for pruned
and failed trials, as Optuna has it), the validation cross-entropy of every global
epoch as intermediate values, and user attributes (keras-tuner's trial id, epochs of
each phase, wall time, rows a second, FLOPs and estimated C ns a particle). The study
calls it as trials end; `report` calls it too. A missing file is rebuilt from the
records, a torn one is replaced. Nothing reads it back: resume, the report and the
retrain read the trials' records, so the mirror is never a second source of truth.
"""

from __future__ import annotations

import logging
from pathlib import Path

import optuna

from study.space import optuna_distributions, space_from_dict
from study.status import TrialStatus
from study.store.records import TrialRecords, read_history
from study.store.study_file import read_record

log = logging.getLogger(__name__)

FILE = "optuna.db"
ATTRIBUTES = (
    "epochs_1", "epochs_2", "switch_epoch", "best_epoch", "epochs", "seconds", "rows_per_second",
    "parameters", "flops_per_particle", "c_ns_estimate", "worker", "message",
)  # fmt: skip
_storages: dict[tuple, object] = {}  # one engine a file (url, inode) and process
_mirrored: dict[tuple, set] = {}  # the trial ids it holds, read once (one writer at a time)
_done = optuna.trial.TrialState
STATES = {
    TrialStatus.COMPLETED: _done.COMPLETE,
    TrialStatus.PRUNED: _done.PRUNED,
    TrialStatus.FAILED: _done.FAIL,
}


def storage_url(study_dir: Path) -> str:
    return f"sqlite:///{(Path(study_dir) / FILE).resolve()}"


def sync(study_dir: Path) -> int:
    """Add the ended trials that optuna.db lacks; return how many were added. A torn or
    foreign file is replaced by one rebuilt from the records."""
    import sqlalchemy.exc

    study_dir = Path(study_dir)
    try:
        return _sync(study_dir)
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.OptunaError, ValueError) as err:
        first = (str(err).splitlines() or [""])[0]
        log.warning("%s: unreadable (%s); rebuilt from the records", study_dir / FILE, first)
        _storages.clear()
        _mirrored.clear()
        (study_dir / FILE).unlink(missing_ok=True)
        return _sync(study_dir)


def _sync(study_dir: Path) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    record = read_record(study_dir)
    name = record["config"].get("study", study_dir.name)
    distributions = optuna_distributions(space_from_dict(record["search_space"]))
    url, path = storage_url(study_dir), study_dir / FILE
    storage = None if path.exists() else optuna.storages.RDBStorage(url)  # creates the file
    key = (url, path.stat().st_ino)  # a file replaced since: a new engine
    _storages[key] = storage or _storages.get(key) or optuna.storages.RDBStorage(url)
    study = optuna.create_study(
        study_name=name, storage=_storages[key], direction="minimize", load_if_exists=True
    )
    if key not in _mirrored:
        _mirrored[key] = {t.user_attrs.get("trial_id") for t in study.get_trials(deepcopy=False)}
    mirrored = _mirrored[key]
    records = TrialRecords(study_dir)
    ended = [
        r for r in records.reports() if r["status"] in STATES and str(r["trial_id"]) not in mirrored
    ]
    ended.sort(key=lambda r: (r.get("finished_at") or 0.0, int(r["trial_id"])))
    for report in ended:
        history = read_history(records.trial_dir(report["trial_id"]) / "history.csv")
        study.add_trial(frozen_trial(report, history, distributions))
        mirrored.add(str(report["trial_id"]))
    return len(ended)


def frozen_trial(report: dict, history: list[dict], distributions: dict):
    """The Optuna trial of one ended report.json and its history.csv rows."""
    values = report.get("hyperparameters", {})
    params, outside = {}, {}
    for name, dist in distributions.items():
        if name in values:  # a value outside a space narrowed since: an attribute
            (params if _inside(dist, values[name]) else outside)[name] = values[name]
    state = STATES[report["status"]]
    attrs = {"trial_id": str(report["trial_id"]), "status": report["status"]}
    attrs.update({k: report[k] for k in ATTRIBUTES if report.get(k) is not None})
    attrs.update({f"outside_space/{k}": v for k, v in outside.items()})
    steps = {int(row["epoch"]): row["val_bce"] for row in history if "val_bce" in row}
    value = report.get("objective") if state == _done.COMPLETE else None
    if state == _done.COMPLETE and value is None:
        state = _done.FAIL
    return optuna.trial.create_trial(
        state=state,
        value=value,
        params=params,
        distributions={k: distributions[k] for k in params},
        intermediate_values=steps,
        user_attrs=attrs,
    )


def _inside(dist, value) -> bool:
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return value in dist.choices
    try:
        return dist.low <= float(value) <= dist.high
    except (TypeError, ValueError):
        return False
