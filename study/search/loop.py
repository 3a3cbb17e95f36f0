"""The resumable search: the tuner wired to its oracle and the study's records, run until
its trials, its budget or its failure limit end it; a chief's progress from its workers."""

from __future__ import annotations

import logging
import time

from study import signals
from study.config import StudyConfig
from study.durations import duration_text
from study.errors import StudyStopped
from study.search import chief, distributed, kt_compat
from study.search.budget_hooks import BudgetSpent
from study.search.hypermodel import AcceptanceHyperModel
from study.search.oracles import make_oracle
from study.search.trial_process import discard_prestarted
from study.search.tuner import AcceptanceTuner, ended_trials

log = logging.getLogger(__name__)


def make_tuner(
    config: StudyConfig,
    n_features: int,
    role: distributed.Role | None = None,
    budget=None,
    split_rows: dict | None = None,
) -> AcceptanceTuner:
    """The study's tuner: the hypermodel of `config`'s space over `n_features` inputs and
    its oracle (a chief's for `role.kind == "chief"`), with the budget and row counts."""
    hypermodel = AcceptanceHyperModel(n_features, config.search_space())
    # --parallel's chief asks the tuner, made next around this oracle, whether a trial fits
    oracle = make_oracle(
        config, role, n_inputs=n_features, budget_stop=lambda: chief.budget_stop(tuner)
    )
    tuner = AcceptanceTuner(
        oracle, hypermodel, config, role=role, budget=budget, split_rows=split_rows
    )
    return tuner


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
        if not kt_compat.is_failure_stop(err):
            raise
        raise StudyStopped(_failure_message(tuner)) from None
    finally:
        discard_prestarted()  # started for a trial that will not come
        if not tuner.is_worker:
            with tuner.bookkeeping.timed():
                tuner.records.write_table()
                tuner.bookkeeping.mirror()  # also rebuilds a missing optuna.db of a resumed study
                tuner.bookkeeping.flush()
            _print_bookkeeping(tuner.bookkeeping.save(), tuner.config)


def _print_bookkeeping(figures: dict, config) -> None:
    print(
        f"  bookkeeping: {figures['bookkeeping_s']:.1f} s of the search's "
        f"{duration_text(figures['wall_s'])} ({100 * figures['fraction']:.2f} %; optuna.db "
        f"{figures['mirror_s']:.1f} s beside the trials); watch it: optuna-dashboard "
        f"sqlite:///{config.study_dir / 'optuna.db'}",
        flush=True,
    )


def _chief_progress(tuner: AcceptanceTuner):
    """The chief's progress lines and trials.csv, as the workers' trials start and end."""
    total = tuner.config.trials
    begin = time.perf_counter()

    def on_change(started: list, ended: list, owners: dict, ended_count: int) -> None:
        for trial_id in started:
            print(f"trial {trial_id} started on worker {owners.get(trial_id, '?')}", flush=True)
        if ended:
            with tuner.bookkeeping.timed():
                tuner.records.write_table()
                tuner.bookkeeping.mirror()
        reports = {r.trial_id: r for r in tuner.records.reports()} if ended else {}
        for trial_id in ended:
            report = reports.get(trial_id)
            objective = report.objective if report else None
            print(
                f"trial {trial_id} {str(report.status if report else 'ended').lower()}"
                f" on worker {(report.worker if report else None) or '?'}"
                + (f": objective {objective:.5f}" if objective is not None else "")
                + f" | {ended_count} of {total} ended, "
                f"elapsed {duration_text(time.perf_counter() - begin)}",
                flush=True,
            )

    return on_change


def _failure_message(tuner: AcceptanceTuner) -> str:
    k = tuner.config.max_failures
    reports = {r.trial_id: r for r in tuner.records.reports()}
    reasons = [
        f"trial {t}: {(reports[t].message if t in reports else None) or 'no message'}"
        for t in tuner.oracle.end_order[-k:]
    ]
    return (
        f"study stopped: {k} consecutive trials failed ("
        + "; ".join(reasons)
        + "); fix the configuration, or raise --max-failures, and run again"
    )
