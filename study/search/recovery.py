"""keras-tuner's state made crash-safe: atomic JSON, torn files repaired, retries made clean.

keras-tuner 1.4 writes `oracle.json`, `tuner0.json` and each `trial_*/trial.json`
in place; a kill during a write leaves a truncated file that makes the study
unloadable. Here:

- `install_atomic_json()` routes keras-tuner's one JSON writer
  (through study/search/kt_compat.py) through a temporary file and a rename;
- `repair(study_dir, hyperparameters)` runs before the tuner loads the study
  (under the study's lock): it removes the temporaries of killed writes; a
  torn `trial.json` is rebuilt from our `report.json` (hyperparameters, status,
  objective) and `history.csv` (the metric per epoch); a torn `report.json` from
  `trial.json` and `history.csv`; a torn `tuner0.json` is rewritten (its state is
  empty); each torn file is kept beside as `*.torn` and named in the log;
- `RecoveringOracle` (mixed into every oracle of the study, study/search/oracles.py)
  rebuilds a torn or missing `oracle.json` from the trial files; clears the metrics of
  a trial that is re-run after a kill (keras-tuner would average the old and new values
  of each epoch); and saves the state before raising the consecutive-failure stop
  (keras-tuner raises before saving, so the failed trial would be re-run).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import keras_tuner

from study import faults, seeds
from study.errors import StateError
from study.names import shown, trial_id_problem
from study.search import kt_compat
from study.status import ENDED, TrialStatus
from study.store.atomic import write_json_atomic, write_text_atomic
from study.store.records import TrialReport, read_history, read_report
from study.training.schedule import EPOCH_METRIC, MONITOR

log = logging.getLogger(__name__)


def install_atomic_json() -> None:
    """Make keras-tuner write every state file atomically (idempotent)."""
    kt_compat.install_json_writer(_write_state)


def _write_state(path, text: str) -> None:
    path = Path(path)
    write_text_atomic(path, text)
    if path.name == "trial.json":  # a kill here, at a trial's creation, orphans it
        faults.point("trial-json", path.parent.name.removeprefix("trial_"))


def _readable(path: Path) -> bool:
    try:
        json.loads(path.read_text())
        return True
    except (OSError, ValueError):
        return False


def _set_aside(path: Path) -> None:
    torn = path.with_name(path.name + ".torn")
    os.replace(path, torn)
    log.warning("%s: torn (not valid JSON); kept as %s and rebuilt", path, torn.name)


def repair(study_dir: Path, hyperparameters: keras_tuner.HyperParameters) -> int:
    """Rebuild torn state files of the study in `study_dir`; return how many were rebuilt."""
    study_dir = Path(study_dir)
    project, trials = study_dir / "tuner", study_dir / "trials"
    for leftover in study_dir.rglob(".*.tmp"):  # a killed atomic write's temporary file
        leftover.unlink()
    _check_trial_ids(project)
    rebuilt = 0
    for path in sorted(project.glob("tuner*.json")):
        if not _readable(path):
            _set_aside(path)
            write_text_atomic(path, "{}")
            rebuilt += 1
    for path in sorted(project.glob("trial_*/trial.json")):
        if _readable(path):
            continue
        trial_id = path.parent.name.removeprefix("trial_")
        report_path = trials / trial_id / "report.json"
        if not _readable(report_path):
            raise StateError(
                f"{path}: torn, and {report_path} cannot rebuild it; "
                f"move {path.parent} aside to drop the trial, then resume"
            )
        report = read_report(report_path)  # a DataError names a field of the wrong kind
        _set_aside(path)
        _trial_from_report(report, trials / trial_id, hyperparameters).save(str(path))
        rebuilt += 1
    for path in sorted(trials.glob("*/report.json")):
        if _readable(path):
            continue
        trial_path = project / f"trial_{path.parent.name}" / "trial.json"
        if not _readable(trial_path):
            raise StateError(f"{path}: torn, and {trial_path} cannot rebuild it")
        _set_aside(path)
        write_json_atomic(
            path, _report_from_trial(json.loads(trial_path.read_text()), path.parent).to_dict()
        )
        rebuilt += 1
    return rebuilt


def _check_trial_ids(project: Path) -> None:
    """Every trial id keras-tuner will reload (oracle.json, trial_*/trial.json) is a plain
    name: ids become paths (trials/<id>/, checkpoints a worker replaces). StateError else."""
    found = []
    oracle = project / "oracle.json"
    if _readable(oracle):
        state = json.loads(oracle.read_text())
        found += [(oracle, t) for t in state.get("end_order", []) or []]
        found += [(oracle, t) for t in (state.get("ongoing_trials") or {}).values()]
    for path in sorted(project.glob("trial_*/trial.json")):
        if _readable(path):
            found.append((path, json.loads(path.read_text()).get("trial_id")))
        found.append((path, path.parent.name.removeprefix("trial_")))
    for path, trial_id in found:
        if trial_id_problem(trial_id):
            raise StateError(
                f"{path}: trial id {shown(trial_id)} is not a plain name "
                f"({trial_id_problem(trial_id)}); this file was not written by a study"
            )


def adopt(project: Path, tuner_id: str) -> None:
    """keras-tuner reloads the oracle only if this process's own tuner file exists: a study
    begun in one process (tuner0.json) and resumed by a distributed chief (chief.json), or
    the reverse, would otherwise start afresh over its trials. The tuner state is empty."""
    own = Path(project) / f"{tuner_id}.json"
    if (Path(project) / "oracle.json").exists() and not own.exists():
        write_text_atomic(own, "{}")


def _trial_from_report(report: TrialReport, trial_dir: Path, space):
    hp = space.copy()
    for name, value in report.hyperparameters.items():
        hp.values[name] = value
    status = TrialStatus.COMPLETED if report.status == TrialStatus.PRUNED else report.status
    status = status if status in ENDED else TrialStatus.RUNNING
    trial = kt_compat.Trial(hp, trial_id=report.trial_id, status=status)
    for row in read_history(trial_dir / "history.csv"):
        trial.metrics.update(EPOCH_METRIC, row.val_bce, step=int(row.epoch))
    if status == TrialStatus.COMPLETED:
        trial.score = report.objective
        trial.best_step = report.best_epoch or 0
        trial.metrics.update(MONITOR, trial.score, step=trial.best_step)
    trial.message = report.message
    return trial


def _report_from_trial(state: dict, trial_dir: Path) -> TrialReport:
    history = read_history(trial_dir / "history.csv")
    phases = [int(r.phase) for r in history]
    status = state["status"] if state["status"] in ENDED else TrialStatus.INTERRUPTED
    return TrialReport(
        trial_id=state["trial_id"],
        status=status,
        objective=state.get("score") if status == TrialStatus.COMPLETED else None,
        hyperparameters=state["hyperparameters"]["values"],
        epochs_1=phases.count(1),
        epochs_2=phases.count(2),
        switch_epoch=phases.index(2) if 2 in phases else None,
        best_epoch=state.get("best_step"),
        seconds=sum(r.seconds or 0.0 for r in history),
        epochs=len(history),
        extra={"rebuilt": "from trial.json and history.csv after report.json was found torn"},
    )


class RecoveringOracle:
    """Mixin for keras-tuner oracles (in every oracle the study declares, before
    kt_compat.ObjectiveCheck: study/search/oracles.py): rebuilds a torn oracle.json, clean
    retries, the failure stop saved; its `checks_objective` is ObjectiveCheck's hook."""

    def reload(self):
        path = Path(kt_compat.oracle_file(self))
        if _readable(path):
            super().reload()
            # keras-tuner re-queues every trial of the saved ongoing_trials, and it saves
            # before it drops an ended trial from them: an ended trial is not a retry
            queue = kt_compat.retry_queue(self)
            kt_compat.set_retry_queue(
                self, [t for t in queue if self.trials[t].status not in ENDED]
            )
            self._adopt_orphans()
            return
        if path.exists():
            _set_aside(path)
        else:
            log.warning("%s: missing; rebuilt from the trial files", path)
        self._rebuild_from_trials()
        self.save()

    def _adopt_orphans(self) -> None:
        """Trials keras-tuner wrote (trial.json) but whose oracle.json it never saved (a kill
        between the two writes of `create_trial`): neither ended nor queued, they would
        count towards max_trials and never run. They run next, their values remembered as
        tried (the oracle's unsaved draw is not drawn again as a new trial)."""
        queue = kt_compat.retry_queue(self)
        orphans = [
            t for t in sorted(self.trials, key=lambda t: (len(t), t), reverse=True)
            if self.trials[t].status not in ENDED and t not in queue
        ]  # fmt: skip
        for trial_id in orphans:
            log.warning("trial %s: created, then the study was killed; it runs again", trial_id)
            trial = self.trials[trial_id]
            if trial_id not in self.start_order:
                self.start_order.append(trial_id)
            self.update_space(trial.hyperparameters)
            kt_compat.record_values(self, trial)
        kt_compat.set_retry_queue(self, [*queue, *orphans])  # the last pops first

    def _rebuild_from_trials(self) -> None:
        for fname in Path(kt_compat.project_dir(self)).glob("trial_*/trial.json"):
            trial = kt_compat.load_trial(str(fname))
            self.trials[trial.trial_id] = trial
        ids = sorted(self.trials, key=lambda t: (len(t), t))
        ended = [t for t in ids if self.trials[t].status in ENDED]
        self.start_order, self.end_order = list(ids), ended
        self.ongoing_trials = {}
        kt_compat.set_retry_queue(
            self, [t for t in reversed(ids) if t not in ended]
        )  # lowest first
        for trial_id in ended:
            kt_compat.mark_run(self, trial_id)
        for trial_id in ids:
            trial = self.trials[trial_id]
            self.update_space(trial.hyperparameters)
            kt_compat.record_values(self, trial)
        kt_compat.set_seed_state(self, seeds.rebuilt_oracle_seed(self.seed, len(ids)))

    pruned: set = frozenset()  # ids of trials stopped by a pruner (study/search/optuna_oracle.py)

    def forget_run(self, trial_id: str) -> None:
        """Hook: a trial's run is abandoned (the Optuna oracle fails its live Optuna trial)."""

    def run_again(self, trial) -> None:
        """`trial` runs again from its start (after a kill, or on another worker): forget
        the epochs and the outcome of the abandoned run."""
        self.forget_run(trial.trial_id)
        trial.metrics = kt_compat.metrics_tracker()
        trial.score = trial.best_step = None
        trial.status = TrialStatus.RUNNING
        kt_compat.save_trial(self, trial)

    def get_best_trials(self, num_trials=1):
        """The best completed trials, pruned ones excluded; fewer when fewer completed.

        (keras-tuner's own fills up with running or failed trials.)"""
        done = [
            t
            for t in self.trials.values()
            if t.status == TrialStatus.COMPLETED
            and t.score is not None
            and t.trial_id not in self.pruned
        ]
        return sorted(done, key=lambda t: t.score)[:num_trials]

    def checks_objective(self, metrics) -> bool:
        """The per-epoch value comes alone, under its own name; the objective comes at the end."""
        return set(metrics) != {EPOCH_METRIC}

    @kt_compat.synchronized
    def create_trial(self, tuner_id):
        trial = super().create_trial(tuner_id)
        if trial.status == TrialStatus.RUNNING and (
            trial.metrics.exists(EPOCH_METRIC) or trial.metrics.exists(MONITOR)
        ):
            self.run_again(trial)  # a trial re-run after a kill
        return trial

    @kt_compat.synchronized
    def end_trial(self, trial):
        try:
            super().end_trial(trial)
        except RuntimeError as err:
            if not kt_compat.is_failure_stop(err):
                raise
            ended = self.trials[trial.trial_id]
            kt_compat.save_trial(self, ended)
            for tuner_id, ongoing in list(self.ongoing_trials.items()):
                if ongoing.trial_id == trial.trial_id:
                    self.ongoing_trials.pop(tuner_id)
            self.save()
            raise
