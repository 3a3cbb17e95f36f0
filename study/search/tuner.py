"""The keras-tuner Tuner of the study, its oracle factory, and the resumable search.

Each trial builds the residual network from the trial's hyperparameters and
trains it with the two-phase schedule; every epoch's validation cross-entropy
is reported to the oracle (one continuous history across the phases), and the
trial's best value is its objective.

keras-tuner 1.4 traps handled here:
- the tuner's state file (`tuner0.json`) is written only at a trial's end, so a
  kill during the first trial would reload nothing: we save at search begin;
- `tuner_id=` is never passed (reload would look for the wrong file); the
  distributed id comes from KERASTUNER_TUNER_ID, set by the CLI;
- a custom `run_trial` gets no `clear_session()`; and since TensorFlow leaks
  ~8 MB per trained model even with it, every trial trains in its own child
  process (study/search/trial_process.py), which keeps the study's memory flat;
- every epoch's value is reported under EPOCH_METRIC, not the objective's name
  (keras-tuner would then ignore run_trial's return value); the oracle may answer
  STOPPED (pruned, study/search/optuna_oracle.py), which ends the trial's training at once;
- `max_trials` counts every trial created, failed and re-queued ones included:
  a trial re-run after a kill keeps its id and counts once.
- its state files are written in place and a re-run trial averages its old and
  new epochs: study/search/recovery.py makes the writes atomic, repairs torn files and
  clears a re-run trial's metrics;
- a signal stops the search only while a trial trains or at a trial boundary
  (study/signals.py), and the running trial is recorded as INTERRUPTED.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time

import keras_tuner

from study import faults, seeds, signals
from study.budget import Budget
from study.config import StudyConfig
from study.errors import StudyError
from study.search import distributed, recovery
from study.search.bookkeeping import Bookkeeping
from study.search.budget_hooks import BudgetHooks
from study.search.hypermodel import AcceptanceHyperModel
from study.search.outcome import TrialOutcome
from study.search.progress import Progress
from study.search.trial_process import (
    TrialCrashed,
    TrialDiverged,
    run_trial_process,
    silence_limit,
)
from study.search.trial_spec import BoardSpec, RungSpec, TrialSpec
from study.space import declare
from study.status import ENDED, ENDED_REPORTS, TrialStatus
from study.store.records import TrialRecords, TrialReport
from study.training import cost
from study.training.history import TrainingResult
from study.training.network import count_parameters
from study.training.schedule import EPOCH_METRIC, MONITOR

log = logging.getLogger(__name__)


class TrialPruned(StudyError):
    """The oracle stopped the trial (its pruner): the epochs so far are its result."""


class AcceptanceTuner(BudgetHooks, keras_tuner.Tuner):
    """Runs each trial as the two-phase training of one residual network."""

    def __init__(
        self,
        oracle,
        hypermodel: AcceptanceHyperModel,
        config: StudyConfig,
        role: distributed.Role | None = None,
        budget: Budget | None = None,
        split_rows: dict | None = None,
        **kwargs,
    ):
        self.config, self.n_features = config, hypermodel.n_inputs
        self.budget = budget  # the time budget (None: --trials alone ends the search)
        self.split_rows = split_rows or {}  # rows of the full splits, for the retrain estimate
        self.role = role or distributed.Role()
        self.is_worker = self.role.kind == "worker"
        self.records = TrialRecords(config.study_dir)
        self.progress = Progress(config.trials, 0)
        self._outcome: dict[str, TrialOutcome] = {}  # the running trials', by id
        self.current = None  # the trial being run, for an interruption's record
        self.bookkeeping = Bookkeeping(config.study_dir)
        recovery.install_atomic_json()
        space = keras_tuner.HyperParameters()
        declare(space, hypermodel.space)
        if not self.is_worker:  # the chief (or the only process) owns the state files
            recovery.repair(config.study_dir, space)
            recovery.adopt(config.study_dir / "tuner", self.role.worker_id)
        super().__init__(
            oracle,
            hypermodel.as_keras_tuner(),
            directory=str(config.study_dir),
            project_name="tuner",
            **kwargs,
        )
        if self.is_worker:  # keras-tuner wrapped the oracle in its OracleClient
            self.oracle = distributed.worker_client(self.oracle, self.role)

    # -- search lifecycle --------------------------------------------------------------
    def on_search_begin(self):
        super().on_search_begin()
        self.save()  # so that a kill during the first trial still reloads the study
        if self.is_worker:
            self.progress = Progress(None, 0)
        else:
            self.progress = Progress(self.config.trials, ended_trials(self), self.budget)
            self.bookkeeping.mirror()  # opens (or rebuilds) optuna.db while the first trial runs

    def on_trial_begin(self, trial):
        signals.check()
        super().on_trial_begin(trial)
        self.current = trial
        self._outcome[trial.trial_id] = TrialOutcome()
        with self.bookkeeping.timed():
            self.records.write_report(self._report(trial, TrialStatus.RUNNING, keep=True))
        faults.point("trial-begin")
        best = self.oracle.get_best_trials(1)
        self.progress.trial_begin(
            trial.trial_id, trial.hyperparameters.values, best[0].score if best else None
        )

    def run_trial(self, trial, *args, **kwargs):
        values, rung = split_rung(trial.hyperparameters.values)
        outcome = self._outcome[trial.trial_id]
        spec = TrialSpec(
            trial_id=trial.trial_id,
            data=str(self.config.data_dir),
            values=values,
            seed=seeds.trial_seed(self.config.seed, trial.trial_id),
            tensorboard=self._tensorboard(trial),
            **search_rows(self.config),
            deadline=self._trial_deadline(),
            rung=self._rung(trial.trial_id, rung),
            schedule={
                "patience_1": self.config.patience_1,
                "patience_2": self.config.patience_2,
                "max_epochs_1": self.config.max_epochs,
                "max_epochs_2": self.config.max_epochs,
                "label_smoothing_1": self.config.label_smoothing,
            },
        )

        on_epoch = functools.partial(self._epoch, trial.trial_id, outcome)
        begin = time.perf_counter()
        try:
            with signals.interruptible(), self._heartbeat(trial):
                result = run_trial_process(spec, on_epoch, outcome.started, self._silence_s())
        except (TrialDiverged, TrialCrashed) as err:
            raise keras_tuner.errors.FailedTrialError(str(err)) from None
        except TrialPruned:
            outcome.pruned = True
            seconds = time.perf_counter() - begin
            result = TrainingResult.from_history(outcome.history, outcome.rows, seconds)
            self.progress.pruned(trial.trial_id, result.history[-1].epoch)
        outcome.result = result
        return {MONITOR: result.objective}

    def _epoch(self, trial_id: str, outcome: TrialOutcome, record, best: float) -> None:
        """One epoch of the trial's process: recorded, told to the oracle, which may stop
        the trial (TrialPruned)."""
        faults.point("switch" if record.phase > outcome.phase else f"phase{record.phase}")
        outcome.history.append(record)
        told = self.oracle.update_trial(trial_id, {EPOCH_METRIC: record.val_bce}, step=record.epoch)
        self.records.write_history(trial_id, outcome.history)
        self.progress.epoch(record, best)
        if told.status == TrialStatus.STOPPED:
            raise TrialPruned()

    def _silence_s(self) -> float:
        """How long this trial's process may send nothing before it is killed."""
        return silence_limit(self.config.trial_timeout, self.records.reports())

    def _rung(self, trial_id: str, rung: dict) -> RungSpec:
        """Where the trial keeps its last epoch (for a rung continuing it, and the final fit);
        a Hyperband trial's epochs to reach and the checkpoint it continues."""
        save = str(self.records.trial_dir(trial_id) / "checkpoint")
        parent = rung.get("tuner/trial_id")
        return RungSpec(
            save=save,
            epochs=int(rung["tuner/epochs"]) if rung else None,
            parent=str(self.records.trial_dir(parent) / "checkpoint") if parent else None,
        )

    def _heartbeat(self, trial):
        """A worker tells the chief that its trial lives (the chief hands over silent ones)."""
        if not self.is_worker:
            return contextlib.nullcontext()
        return distributed.Heartbeat(self.oracle, trial.trial_id, self.role.heartbeat_s)

    def _tensorboard(self, trial) -> BoardSpec | None:
        """Where and what the trial process logs for TensorBoard (None: no logs)."""
        if not self.config.tensorboard:
            return None
        return BoardSpec(
            log_dir=str(self.records.trial_dir(trial.trial_id) / "tensorboard"),
            trial_id=trial.trial_id,
            hyperparameters=trial.hyperparameters.get_config(),
        )

    def on_trial_end(self, trial):
        # The record is written before the oracle ends the trial: a kill in between
        # re-runs the trial, whose record is then rewritten.
        status = (
            TrialStatus.COMPLETED if trial.status == TrialStatus.COMPLETED else TrialStatus.FAILED
        )
        outcome = self._outcome.get(trial.trial_id)
        if status == TrialStatus.COMPLETED and outcome is not None and outcome.pruned:
            status = TrialStatus.PRUNED
        with self.bookkeeping.timed():
            report = self._report(trial, status)
            self.records.write_report(report)
            faults.point("trial-end")
            super().on_trial_end(trial)
            self.current = None
            if not self.is_worker:  # the chief writes the table and the dashboard's copy
                self.records.write_table()
                self.bookkeeping.mirror()
        self.progress.trial_end(trial.trial_id, report.status, report.objective)
        signals.check()

    def record_interrupted(self) -> None:
        """The running trial's record says INTERRUPTED; keras-tuner re-runs it on resume."""
        if self.current is not None:
            trial, self.current = self.current, None
            self.records.write_report(self._report(trial, TrialStatus.INTERRUPTED))
            self.progress.trial_end(trial.trial_id, TrialStatus.INTERRUPTED, None)

    def _report(self, trial, status: TrialStatus, keep: bool = False) -> TrialReport:
        """report.json of a trial that is RUNNING, COMPLETED, PRUNED, FAILED or INTERRUPTED."""
        outcome = (self._outcome.get if keep else self._outcome.pop)(trial.trial_id, None)
        outcome = outcome or TrialOutcome()  # a trial this process did not begin
        result = outcome.result
        values, rung = split_rung(trial.hyperparameters.values)
        flops = cost.flops_per_particle(self.n_features, values["width"], values["n_blocks"])
        lines = (trial.message or "").strip().splitlines()
        return TrialReport(
            trial_id=trial.trial_id,
            status=status,
            objective=result.objective if result else None,
            hyperparameters=values,
            epochs_1=result.epochs_1 if result else None,
            epochs_2=result.epochs_2 if result else None,
            switch_epoch=result.switch_epoch if result else None,
            best_epoch=result.best_epoch if result else None,
            parameters=outcome.parameters
            or count_parameters(self.n_features, values["width"], values["n_blocks"]),
            flops_per_particle=flops,
            c_ns_estimate=round(cost.estimated_c_ns(flops), 1),
            seconds=outcome.seconds(),
            finished_at=time.time() if status in ENDED_REPORTS else None,
            rows_per_second=result.rows_per_second if result else None,
            epochs=len(outcome.history),
            rung={k.removeprefix("tuner/"): v for k, v in rung.items()} if rung else None,
            training_rows=outcome.rows,
            validation_rows=outcome.validation_rows,
            worker=self.tuner_id if self.is_worker else None,
            data_seconds=outcome.data_seconds,
            build_seconds=outcome.build_seconds,
            message=(lines[-1] if lines else "") if status == TrialStatus.FAILED else None,
        )


def split_rung(values: dict) -> tuple[dict, dict]:
    """(hyperparameters, Hyperband's `tuner/...` bookkeeping) of a trial's values."""
    rung = {k: v for k, v in values.items() if k.startswith("tuner/")}
    return {k: v for k, v in values.items() if k not in rung}, rung


def search_rows(config: StudyConfig) -> dict:
    """The trials' subsample: `search_rows` training rows and half as many validation rows,
    drawn with the study's seed (None: the whole split)."""
    rows = config.search_rows or None
    return {
        "train_rows": rows,
        "validation_rows": rows // 2 if rows else None,
        "sample_seed": seeds.sample_seed(config.seed),
    }


def ended_trials(tuner: AcceptanceTuner) -> int:
    return sum(t.status in ENDED for t in tuner.oracle.trials.values())
