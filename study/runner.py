"""The study's pipeline, the one entry the command line and the Python API both run:
the data, the search (under the study's lock), the retrain, validation and export of
the best trial, and the report; its progress lines on the terminal either way."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from study import faults
from study.choice import best_trial
from study.config import StudyConfig
from study.errors import ConfigError


def show_progress() -> None:
    """The study's log lines (the retrain's epochs and choices among them) at INFO on
    stderr, as the terminal shows them, unless the caller has set up logging itself."""
    if logging.getLogger().handlers or logging.getLogger("study").handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    package = logging.getLogger("study")
    package.addHandler(handler)
    package.setLevel(logging.INFO)
    package.propagate = False  # not again through a root handler set up later (absl's)


def named_study_dir(results, name) -> Path:
    """<results>/<name> for a --study name that stays inside the results root."""
    from study.names import study_dir

    try:
        return study_dir(results, name)
    except ValueError as err:
        raise ConfigError(f"--study: {err}") from None


def run_study(
    config: StudyConfig,
    *,
    retrain: bool = True,
    report: bool = True,
    overwrite: bool = False,
    start: float | None = None,
    role=None,
) -> Path:
    """Search, then retrain, validate and export the best trial, then the report, of
    `config`'s study (resumed where it stands); its directory. `start`: the
    `time.monotonic()` the time budget counts from (default now); `role`: a distributed
    chief's (default a study on its own). Progress goes to the terminal (`show_progress`)."""
    from study.backend import start as start_backend
    from study.search import distributed

    show_progress()
    role = role or distributed.Role()
    start_backend(config.backend)
    from study.budget import Budget
    from study.data.prepare import load_dataset
    from study.store.lock import StudyLock
    from study.store.study_file import check_start, check_writable

    budget = Budget.of(config.time_budget, start=start)
    named_study_dir(config.results, config.study)  # inside the results root, links resolved
    check_writable(config.study_dir)
    check_start(config, overwrite)  # --overwrite deletes only a study
    dataset = load_dataset(config)
    faults.point("data")
    with StudyLock(config.study_dir), distributed.environment(role):
        _search(config, dataset, role, budget, retrain, report, overwrite)
    return config.study_dir


def _search(config, dataset, role, budget, retrain: bool, report: bool, overwrite: bool) -> None:
    from study.store.study_file import check_or_create

    resuming = check_or_create(config, dataset, overwrite)
    budget.attach(config.study_dir)
    budget.retrain = retrain  # --no-retrain: the search may use it all
    if role.kind == "chief" and not role.local and budget.total_s is not None:
        print("note: a distributed study has no time budget; --trials ends its search")
        budget.total_s = None
    print(
        f"{'resuming' if resuming else 'starting'} study {config.study} in {config.study_dir}: "
        f"up to {config.trials} trials, tuner {config.tuner}, data {dataset.path}"
        + (f", time budget {budget.status()}" if budget.total_s is not None else "")
        + (f"; chief at {role.address}, waiting for workers" if role.kind and role.port else "")
        + ("; --parallel: the chief on 127.0.0.1, its workers once it listens" * role.local)
    )
    rows = {s: getattr(dataset, s).num_rows for s in ("train", "validation", "test")}
    from study.search.tuner import search_rows

    search = search_rows(config)
    print(
        f"  rows: trials train on {min(search['train_rows'] or rows['train'], rows['train']):,}"
        f" of the "
        f"{rows['train']:,} training rows and validate on "
        f"{min(search['validation_rows'] or rows['validation'], rows['validation']):,} of "
        f"{rows['validation']:,}; the retrain uses all of both; the test split has "
        f"{rows['test']:,}"
    )
    from study.search import loop

    tuner = loop.make_tuner(config, len(dataset.features), role, budget, rows)
    loop.search(tuner)
    budget.save()
    best = best_trial(tuner.records.reports())
    print(
        f"study {config.study}: {loop.ended_trials(tuner)} trials ended; "
        + (
            f"best trial {best.trial_id}, val_bce {best.objective:.5f}"
            if best
            else "no completed trial"
        )
    )
    print(f"  table: {config.study_dir / 'trials.csv'}")
    if config.multi_objective:
        _print_front(config, tuner.records.reports())
    failed = run_best(config, dataset, None, budget) if retrain and best else None
    if report:
        from study.report import build_report

        budget.save()  # the report's wall time
        summary = build_report(config.study_dir, finished=True)
        print(f"  report: {summary.files['html']}")
    budget.save()
    _say_budget(budget, loop.ended_trials(tuner), config.trials)
    if failed is not None:
        raise failed  # the study's exit status says it: 3 (study/errors.py)


def _say_budget(budget, ended: int, trials: int) -> None:
    """What the study spent of its time budget, and why any minutes are left unused."""
    from study.budget import unused

    if budget.total_s is not None:
        print(f"  time budget: {budget.status()}")
        why = unused(budget, ended, trials)
        if why:
            print(f"  {why}")


def _print_front(config, reports: list) -> None:
    """The Pareto front of a multi-objective study, and how to retrain one of its points."""
    from study.choice import pareto_reports
    from study.training.cost import estimated_c_ns

    front = pareto_reports(reports)
    print(f"  Pareto front (val_bce, estimated C ns a particle), {len(front)} trials:")
    for r in front:
        ns = estimated_c_ns(r.flops_per_particle)
        print(f"    trial {r.trial_id}: {r.objective:.5f}, {ns:,.0f} ns")
    print(
        f"  the retrain takes the lowest val_bce; another point: python run_study.py retrain "
        f"--study {config.study} --results {config.results} --trial ID"
    )


def run_best(config, dataset, trial_id, budget=None):
    """Retrain, validate and export (study/best/pipeline.py), and say where it went; the
    CCheckFailed of an export that landed without its C library (None: it has one)."""
    from study.best.pipeline import run_best as run

    fit = run(config, dataset, trial_id, budget)
    card = fit.card
    print(
        f"best trial {card.trial_id} retrained, validated and exported to {fit.export}"
        + ("" if card.converged else f" (NOT converged: {card.reason})")
    )
    if card.kept == "trial":
        kept = card.weights
        print(
            f"  exported trial {card.trial_id}'s own weights: val_bce "
            f"{kept['trial_val_bce']:.5f}, the final fit's {kept['final_fit_val_bce']:.5f}"
        )
    if fit.c_check_failed is not None:
        print(
            f"  C library: FAILED its check, set aside in {fit.export}/c-failed-check/ "
            "(the model card's c.check_failed says why); the rest of the export is whole"
        )
    return fit.c_check_failed
