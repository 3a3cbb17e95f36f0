"""Trial reports: tables, plots, importances, an HTML/Markdown report, comparisons.

    summary = build_report(results / study)       # writes <study>/report/
    table = compare(["a", "b:3"], results, out)   # writes out/compare.{html,md}

collect.py reads the results directory, analysis.py computes, plots.py draws,
render.py formats; this module ties them together and writes the files.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path

from study.durations import duration_text
from study.errors import ConfigError
from study.names import study_dir
from study.report import analysis, plots, render
from study.report.collect import StudyRecord, TrialSummary, finite, load_study, validation
from study.report.summary import BestTrial, ReportSummary, Retrained, TrialRow
from study.status import ENDED_REPORTS, TrialStatus
from study.store.atomic import plain_directory, write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

__all__ = [
    "build_report", "compare", "load_study", "summarise", "ReportSummary", "StudyRecord",
    "TrialSummary",
]  # fmt: skip

FIGURES = {
    "objective per trial": "objective.png",
    "objective against each hyperparameter": "hyperparameters.png",
    "learning curves of the best trials": "learning_curves.png",
    "hyperparameter importances": "importances.png",
    "wall time per trial": "wall_time.png",
    "validation cross-entropy against the cost per particle (Pareto front)": "cost.png",
}


def _from_report(path: Path, study_dir: Path) -> str:
    """`path` as a link from report/index.html."""
    return "../" + path.relative_to(study_dir).as_posix()


def _trial_row(rank: int | None, t: TrialSummary, study_dir: Path) -> TrialRow:
    return TrialRow(
        rank=rank,
        trial_id=t.trial_id,
        status=str(t.status),
        objective=t.objective,
        epochs_1=t.epochs_1,
        epochs_2=t.epochs_2,
        switch_epoch=t.switch_epoch,
        parameters=t.parameters,
        seconds=t.seconds,
        rows_per_second=t.rows_per_second,
        hyperparameters=t.hyperparameters,
        message=t.message or "",
        tensorboard=_from_report(t.tensorboard, study_dir) if t.tensorboard else "",
    )


def summarise(study: StudyRecord, importance: analysis.Importances) -> ReportSummary:
    """The report (what report.json holds and `report --format json` prints)."""
    best = study.best()
    rows, rank = [], 0
    for t in study.sorted_trials():
        ranked = t.status == TrialStatus.COMPLETED and finite(t.objective)
        rank += ranked
        rows.append(_trial_row(rank if ranked else None, t, study.directory))
    card = study.retrained
    return ReportSummary(
        study=study.name,
        directory=str(study.directory),
        state=_state(study),
        config=study.config,
        counts=study.counts(),
        hyperparameter_names=analysis.searched_names(study),
        best=BestTrial(best.trial_id, best.objective, best.hyperparameters) if best else None,
        retrained=Retrained(
            trial_id=str(card.trial_id),
            test_metrics=card.test_metrics.to_dict() if card.test_metrics else {},
            converged=card.converged,
            convergence_note=card.reason,
        )
        if card
        else None,
        pareto_front=analysis.cost_front(study).front,
        validation=validation(study.directory),
        importances=importance.values,
        importance_note=importance.note,
        trials=rows,
        figures=dict(FIGURES),
        tensorboard="../trials" if any(r.tensorboard for r in rows) else "",
        links=_links(study.directory),
    )


def _state(study: StudyRecord) -> str:
    """Running (who, since when), or finished / stopped with its counts, end and wall time."""
    holder = study.holder
    if holder:
        return (
            f"running (pid {holder.get('pid')} on host {holder.get('host')}, "
            f"since {holder.get('since')})"
        )
    counts = study.counts()
    ended = sum(counts.get(s, 0) for s in ENDED_REPORTS)
    cut = counts.get(TrialStatus.KILLED, 0) + counts.get(TrialStatus.INTERRUPTED, 0)
    files = list(study.directory.glob("trials/*/report.json"))
    files += [study.directory / n for n in ("budget.json", "best/export/model_card.json")]
    times = [p.stat().st_mtime for p in files if p.is_file()]
    end = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(max(times))) if times else "?"
    wall = study.wall_seconds()
    words = "stopped, a trial was cut (run the study again to resume)" if cut else "finished"
    return (
        f"{words}: {ended} of {study.config.get('trials', '?')} trials ended "
        f"({', '.join(f'{n} {k.lower()}' for k, n in sorted(counts.items()))}); "
        f"last written {end}" + (f"; wall time {duration_text(wall)}" if wall else "")
    )


def _links(study_dir: Path) -> dict:
    links = {"trials.csv": "../trials.csv"}
    best = study_dir / "best"
    for text, rel in (
        ("retrained best: learning curve", "learning_curve.png"),
        ("retrained best: validation metrics", "validation/metrics.json"),
        ("retrained best: model card", "export/model_card.json"),
    ):
        if (best / rel).exists():
            links[text] = f"../best/{rel}"
    for png in sorted((best / "validation").glob("*.png")):
        links[f"validation: {png.stem}"] = f"../best/validation/{png.name}"
    return links


def report_dir(study_dir: Path) -> Path:
    """`<study>/report/`, made if absent; a DataError if it is a symbolic link or not a
    directory (the report never writes through a link another user planted)."""
    return plain_directory(Path(study_dir) / "report", Path(study_dir))


def build_report(study_dir: Path, top: int = 5, finished: bool = False) -> ReportSummary:
    """Read the study, compute, draw and write `<study>/report/`; return the summary.
    `finished`: written by the study itself at its end (its own lock is not a running
    study)."""
    start = time.perf_counter()
    study = load_study(study_dir, finished)
    out = report_dir(study_dir)
    importance = analysis.importances(study)
    summary = summarise(study, importance)
    names = summary.hyperparameter_names
    failed = [t.trial_id for t in study.trials if t.status == TrialStatus.FAILED]
    plots.draw_objective(analysis.objective_series(study), failed, out / "objective.png")
    plots.draw_hyperparameters(plots.hyperparameter_data(study, names), out / "hyperparameters.png")
    curves = plots.learning_curve_data(analysis.top_trials(study, top))
    plots.draw_learning_curves(curves, out / "learning_curves.png", f"top {top} trials")
    plots.draw_importances(importance.values, importance.note, out / "importances.png")
    plots.draw_wall_time(study.trials, out / "wall_time.png")
    plots.draw_cost(analysis.cost_front(study), out / "cost.png")
    write_text_atomic(out / "index.html", render.report_html(summary))
    write_text_atomic(out / "report.md", render.report_markdown(summary))
    write_json_atomic(out / "report.json", summary.to_dict())
    summary.files = {"html": str(out / "index.html"), "markdown": str(out / "report.md")}
    seconds = time.perf_counter() - start
    log.info("report of %d trials written in %.1f s", len(study.trials), seconds)
    return summary


def _entry(spec: str, results: Path, cache: dict) -> analysis.Entry:
    """`study` (its best completed trial) or `study:trial_id`."""
    name, _, trial_id = spec.partition(":")
    if name not in cache:
        try:
            cache[name] = load_study(study_dir(results, name))
        except ValueError as err:
            raise ConfigError(f"compare: {err}") from None
    study = cache[name]
    if trial_id:
        trial = study.trial(trial_id)
    else:
        trial = study.best()
        if trial is None:
            raise ConfigError(f"{study.directory}: no completed trial to compare")
    return analysis.Entry(f"{name}:{trial.trial_id}", study, trial)


def compare(specs: list[str], results: Path, output: Path) -> dict:
    """Side-by-side table of the given trials; writes compare.{html,md,json} + curves."""
    if len(specs) < 2:
        raise ConfigError("compare: give at least two studies or study:trial pairs")
    cache: dict = {}
    entries = [_entry(s, results, cache) for s in specs]
    table = analysis.comparison(entries)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    drawn = [e for e in entries if e.trial.history is not None and len(e.trial.history)]
    curves = plots.learning_curve_data([e.trial for e in drawn])
    curves = [replace(c, label=e.label) for c, e in zip(curves, drawn, strict=True)]
    figure = "compare_curves.png"
    plots.draw_learning_curves(curves, output / figure)
    write_text_atomic(output / "compare.html", render.compare_html(table, figure))
    write_text_atomic(output / "compare.md", render.compare_markdown(table, figure))
    write_text_atomic(output / "compare.json", json.dumps(table, indent=1) + "\n")
    table["files"] = {"html": str(output / "compare.html"), "markdown": str(output / "compare.md")}
    return table
