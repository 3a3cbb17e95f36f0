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
import logging
import time

import keras_tuner

from study import budget as budget_module
from study import signals
from study.budget import Budget, duration_text
from study.config import StudyConfig
from study.errors import StudyStopped
from study.search import chief, distributed, kt_compat, recovery
from study.search.hypermodel import AcceptanceHyperModel
from study.search.trial_process import (
    TrialCrashed,
    TrialDiverged,
    discard_prestarted,
    run_trial_process,
)
from study.space import declare
from study.status import ENDED, ENDED_REPORTS, TrialStatus
from study.store.records import TrialRecords, TrialReport
from study.testing import faults
from study.training.network import count_parameters
from study.training.schedule import EPOCH_METRIC, MONITOR, TrainingResult

log = logging.getLogger(__name__)
OBJECTIVE = keras_tuner.Objective(MONITOR, direction="min")


def make_oracle(config: StudyConfig, role: distributed.Role | None = None):
    """The oracle named by `config.tuner`, seeded, with the failure limit; a chief's
    (hand-over of a lost worker's trial, study/search/chief.py) for `role.kind == "chief"`."""
    kt_compat.check()  # the keras-tuner installed has what resume and the chief use
    cls = _oracle_class(config)
    if role is None or role.kind != "chief":
        return cls(**_oracle_arguments(config))
    oracle = chief.chief_class(cls)(**_oracle_arguments(config))
    oracle.start_chief(role.handover_s, config.study_dir / chief.EVENTS)
    return oracle


def _oracle_class(config: StudyConfig) -> type:
    if config.tuner == "random":
        return recovery.RandomOracle
    if config.tuner == "bayesian":
        return recovery.BayesianOracle
    if config.tuner == "hyperband":
        return recovery.HyperbandOracle
    from study.search.optuna_oracle import OptunaOracle

    return OptunaOracle


def _oracle_arguments(config: StudyConfig) -> dict:
    common = dict(
        objective=OBJECTIVE,
        max_trials=config.trials,
        seed=config.seed + 1,  # keras-tuner treats seed 0 as "no seed"
        max_consecutive_failed_trials=config.max_failures,
    )
    if config.tuner == "random":
        return common
    if config.tuner == "hyperband":
        # budget: global epochs across both phases; rungs of 1/3 of the trials each
        return dict(
            max_epochs=2 * config.max_epochs, factor=3, hyperband_iterations=10_000, **common
        )
    if config.tuner == "bayesian":
        # keras-tuner's default starts with 3 random trials per hyperparameter (24 here)
        return dict(num_initial_points=min(10, max(3, config.trials // 5)), **common)
    return dict(sampler=config.tuner, pruner=config.prune, max_epochs=config.max_epochs, **common)


class BudgetSpent(Exception):
    """No further trial fits in the time budget: the message says why."""


class TrialPruned(Exception):
    """The oracle stopped the trial (its pruner): the epochs so far are its result."""


class Progress:
    """Terminal progress: trial k of N, epochs, best so far, elapsed and time left.

    A worker of a distributed study (`total` None) counts its own trials only."""

    def __init__(self, total: int | None, ended_before: int, budget=None):
        self.total, self.ended_before, self.budget = total, ended_before, budget
        self.start = time.perf_counter()
        self.ended_now = 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> str:
        if not self.ended_now or self.total is None:
            return "?"
        remaining = self.total - self.ended_before - self.ended_now
        return duration_text(self.elapsed() / self.ended_now * max(remaining, 0))

    def trial_begin(self, trial_id: str, values: dict, best: float | None) -> None:
        k = self.ended_before + self.ended_now + 1
        shown = ", ".join(f"{n}={_short(v)}" for n, v in values.items())
        best_text = f"{best:.5f}" if best is not None else "-"
        log.info(
            "trial %d of %s (id %s): %s | best so far %s | elapsed %s, left ~%s%s",
            k,
            self.total or "this worker",
            trial_id,
            shown,
            best_text,
            duration_text(self.elapsed()),
            self.left(),
            f" | budget {self.budget.status()}" if self.budget and self.budget.total_s else "",
        )

    def epoch(self, record, best: float) -> None:
        log.info(
            "  epoch %3d  phase %d  lr %.2e  loss %.5f  val_bce %.5f  (trial best %.5f)",
            record.epoch,
            record.phase,
            record.learning_rate,
            record.loss,
            record.val_bce,
            best,
        )

    def pruned(self, trial_id: str, epoch: int) -> None:
        log.info("  trial %s pruned after global epoch %d", trial_id, epoch)

    def trial_end(self, trial_id: str, status: str, objective: float | None) -> None:
        self.ended_now += 1
        value = f"{objective:.5f}" if objective is not None else "-"
        log.info(
            "trial %s %s: objective %s | elapsed %s, left ~%s",
            trial_id,
            status.lower(),
            value,
            duration_text(self.elapsed()),
            self.left(),
        )


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class AcceptanceTuner(keras_tuner.Tuner):
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
        self._outcome: dict = {}
        self.current = None  # the trial being run, for an interruption's record
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
            self.oracle = distributed.PatientClient(self.oracle, self.role.connect_timeout_s)

    # -- search lifecycle --------------------------------------------------------------
    def on_search_begin(self):
        super().on_search_begin()
        self.save()  # so that a kill during the first trial still reloads the study
        if self.is_worker:
            self.progress = Progress(None, 0)
        else:
            self.progress = Progress(self.config.trials, ended_trials(self), self.budget)

    def pre_create_trial(self):
        """Before each new trial: save the time spent; stop if no further trial fits."""
        super().pre_create_trial()
        if self.budget is None or self.is_worker:
            return
        self.budget.save()
        why = self.budget_stop()
        if why:
            raise BudgetSpent(why)

    def _trial_deadline(self) -> float | None:
        """When a trial must stop to leave the retrain and the final stages their time."""
        if self.budget is None or self.budget.total_s is None or self.is_worker:
            return None
        retrain_s, finish_s, _ = self._estimates(self.records.reports())
        return self.budget.deadline(
            budget_module.retrain_reserve(self.budget, retrain_s) + finish_s
        )

    def _estimates(self, reports: list[dict]) -> tuple[float | None, float, list[float]]:
        """(retrain seconds of the trial the retrain would take now, final stages' seconds,
        seconds of the ended trials)."""
        finish_s = budget_module.finish_seconds(self.split_rows.get("test", 0))
        left = self.budget.left() if self.budget else None
        _, retrain_s = budget_module.pick(
            reports, self.split_rows, None if left is None else left - finish_s
        )
        seconds = [r["seconds"] for r in reports if r["status"] in ENDED_REPORTS]
        return retrain_s, finish_s, seconds

    def budget_stop(self) -> str | None:
        """Why the time budget allows no further trial (None: it does)."""
        retrain_s, finish_s, seconds = self._estimates(self.records.reports())
        return budget_module.search_should_stop(self.budget, seconds, retrain_s, finish_s)

    def on_trial_begin(self, trial):
        signals.check()
        super().on_trial_begin(trial)
        self.current = trial
        self._outcome[trial.trial_id] = {"history": [], "parameters": None}
        self._outcome[trial.trial_id]["start"] = time.perf_counter()
        self.records.write_report(self._report(trial, TrialStatus.RUNNING, keep=True))
        faults.point("trial-begin")
        best = self.oracle.get_best_trials(1)
        self.progress.trial_begin(
            trial.trial_id, trial.hyperparameters.values, best[0].score if best else None
        )

    def run_trial(self, trial, *args, **kwargs):
        values, rung = split_rung(trial.hyperparameters.values)
        outcome = self._outcome[trial.trial_id]
        spec = {
            "data": str(self.config.data_dir),
            "values": values,
            "seed": self.config.seed * 100_003 + _trial_index(trial.trial_id),
            "tensorboard": self._tensorboard(trial),
            **search_rows(self.config),
            "deadline": self._trial_deadline(),
            "rung": self._rung(trial.trial_id, rung),
            "schedule": {
                "patience_1": self.config.patience_1,
                "patience_2": self.config.patience_2,
                "max_epochs_1": self.config.max_epochs,
                "max_epochs_2": self.config.max_epochs,
            },
        }

        def on_epoch(record, best):
            previous = outcome["history"][-1].phase if outcome["history"] else 1
            faults.point("switch" if record.phase > previous else f"phase{record.phase}")
            outcome["history"].append(record)
            told = self.oracle.update_trial(
                trial.trial_id, {EPOCH_METRIC: record.val_bce}, step=record.epoch
            )
            self.records.write_history(trial.trial_id, outcome["history"])
            self.progress.epoch(record, best)
            if told.status == TrialStatus.STOPPED:
                raise TrialPruned()

        def on_start(parameters, rows, timing):
            outcome["parameters"], outcome["rows"] = parameters, rows
            outcome["validation_rows"] = timing.pop("validation_rows", None)
            outcome["timing"] = timing

        begin = time.perf_counter()
        try:
            with signals.interruptible(), self._heartbeat(trial):
                result = run_trial_process(spec, on_epoch, on_start)
        except (TrialDiverged, TrialCrashed) as err:
            raise keras_tuner.errors.FailedTrialError(str(err)) from None
        except TrialPruned:
            outcome["pruned"] = True
            seconds = time.perf_counter() - begin
            result = TrainingResult.from_history(outcome["history"], outcome["rows"], seconds)
            self.progress.pruned(trial.trial_id, result.history[-1].epoch)
        outcome["result"] = result
        return {MONITOR: result.objective}

    def _rung(self, trial_id: str, rung: dict) -> dict | None:
        """A Hyperband trial's epochs to reach, its checkpoint, and the one it continues."""
        if not rung:
            return None
        parent = rung.get("tuner/trial_id")
        return {
            "epochs": int(rung["tuner/epochs"]),
            "save": str(self.records.trial_dir(trial_id) / "checkpoint"),
            "from": str(self.records.trial_dir(parent) / "checkpoint") if parent else None,
        }

    def _heartbeat(self, trial):
        """A worker tells the chief that its trial lives (the chief hands over silent ones)."""
        if not self.is_worker:
            return contextlib.nullcontext()
        return distributed.Heartbeat(self.oracle, trial.trial_id, self.role.heartbeat_s)

    def _tensorboard(self, trial) -> dict | None:
        """Where and what the trial process logs for TensorBoard (None: no logs)."""
        if not self.config.tensorboard:
            return None
        return {
            "log_dir": str(self.records.trial_dir(trial.trial_id) / "tensorboard"),
            "trial_id": trial.trial_id,
            "hyperparameters": trial.hyperparameters.get_config(),
        }

    def on_trial_end(self, trial):
        # The record is written before the oracle ends the trial: a kill in between
        # re-runs the trial, whose record is then rewritten.
        status = (
            TrialStatus.COMPLETED if trial.status == TrialStatus.COMPLETED else TrialStatus.FAILED
        )
        if status == TrialStatus.COMPLETED and self._outcome.get(trial.trial_id, {}).get("pruned"):
            status = TrialStatus.PRUNED
        report = self._report(trial, status)
        self.records.write_report(report)
        faults.point("trial-end")
        super().on_trial_end(trial)
        self.current = None
        if not self.is_worker:  # the chief writes the table of a distributed study
            self.records.write_table()
        self.progress.trial_end(trial.trial_id, report.status, report.objective)
        signals.check()

    def record_interrupted(self) -> None:
        """The running trial's record says INTERRUPTED; keras-tuner re-runs it on resume."""
        if self.current is not None:
            trial, self.current = self.current, None
            self.records.write_report(self._report(trial, TrialStatus.INTERRUPTED))
            self.progress.trial_end(trial.trial_id, TrialStatus.INTERRUPTED, None)

    def _report(self, trial, status: str, keep: bool = False) -> TrialReport:
        """report.json of a trial that is RUNNING, COMPLETED, PRUNED, FAILED or INTERRUPTED."""
        outcome = (self._outcome.get if keep else self._outcome.pop)(trial.trial_id, {})
        result = outcome.get("result")
        values, rung = split_rung(trial.hyperparameters.values)
        history = outcome.get("history", [])
        timing = outcome.get("timing", {})
        report = TrialReport(
            trial_id=trial.trial_id,
            status=status,
            objective=result.objective if result else None,
            hyperparameters=values,
            epochs_1=result.epochs_1 if result else None,
            epochs_2=result.epochs_2 if result else None,
            switch_epoch=result.switch_epoch if result else None,
            best_epoch=result.best_epoch if result else None,
            parameters=outcome.get("parameters")
            or count_parameters(self.n_features, values["width"], values["n_blocks"]),
            seconds=time.perf_counter() - outcome.get("start", time.perf_counter()),
            finished_at=time.time() if status in ENDED_REPORTS else None,
            rows_per_second=result.rows_per_second if result else None,
            epochs=len(history),
            rung={k.removeprefix("tuner/"): v for k, v in rung.items()} if rung else None,
            training_rows=outcome.get("rows"),
            validation_rows=timing.get("validation_rows", outcome.get("validation_rows")),
            worker=self.tuner_id if self.is_worker else None,
            data_seconds=timing.get("data_s"),
            build_seconds=timing.get("build_s"),
        )
        if status == TrialStatus.FAILED:
            lines = (trial.message or "").strip().splitlines()
            report.message = lines[-1] if lines else ""
        return report


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
        "sample_seed": config.seed,
    }


def _trial_index(trial_id: str) -> int:
    return int(trial_id) if str(trial_id).isdigit() else abs(hash(trial_id)) % 100_000


def search(tuner: AcceptanceTuner) -> None:
    """Run the search until `config.trials` trials have ended.

    A signal (study.signals) records the running trial as interrupted, saves the
    state and re-raises `StudyInterrupted`; the consecutive-failure limit becomes
    `StudyStopped` with the reasons of the failures.
    """
    try:
        with signals.deferred():
            if tuner.role.kind == "chief":
                chief.serve(tuner, tuner.role, _chief_progress(tuner))
            else:
                if tuner.role.kind is None:
                    distributed.requeue_foreign(tuner.oracle)
                tuner.search(verbose=0)
    except BudgetSpent as spent:
        print(f"{spent}; {ended_trials(tuner)} trials ended", flush=True)
    except signals.StudyInterrupted:
        tuner.record_interrupted()
        tuner.save()
        raise
    except RuntimeError as err:
        if "consecutive failures" not in str(err):
            raise
        raise StudyStopped(_failure_message(tuner)) from None
    finally:
        discard_prestarted()  # started for a trial that will not come
        if not tuner.is_worker:
            tuner.records.write_table()


def _chief_progress(tuner: AcceptanceTuner):
    """The chief's progress lines and trials.csv, as the workers' trials start and end."""
    oracle, total = tuner.oracle, tuner.config.trials
    begin = time.perf_counter()

    def on_change(started: list[str], ended: list[str]) -> None:
        owners = {t.trial_id: w for w, t in oracle.ongoing_trials.items()}
        for trial_id in started:
            print(f"trial {trial_id} started on worker {owners.get(trial_id, '?')}", flush=True)
        if ended:
            tuner.records.write_table()
        reports = {r["trial_id"]: r for r in tuner.records.reports()} if ended else {}
        for trial_id in ended:
            report = reports.get(trial_id, {})
            objective = report.get("objective")
            print(
                f"trial {trial_id} {report.get('status', oracle.trials[trial_id].status).lower()}"
                f" on worker {report.get('worker', '?')}"
                + (f": objective {objective:.5f}" if objective is not None else "")
                + f" | {len(oracle.end_order)} of {total} ended, "
                f"elapsed {duration_text(time.perf_counter() - begin)}",
                flush=True,
            )

    return on_change


def _failure_message(tuner: AcceptanceTuner) -> str:
    k = tuner.config.max_failures
    reports = {r["trial_id"]: r for r in tuner.records.reports()}
    reasons = [
        f"trial {t}: {reports.get(t, {}).get('message') or 'no message'}"
        for t in tuner.oracle.end_order[-k:]
    ]
    return (
        f"study stopped: {k} consecutive trials failed ("
        + "; ".join(reasons)
        + "); fix the configuration, or raise --max-failures, and run again"
    )


def ended_trials(tuner: AcceptanceTuner) -> int:
    return sum(t.status in ENDED for t in tuner.oracle.trials.values())
