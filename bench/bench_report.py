"""Time `report` on a study of N trials: reading, importances, figures, HTML, in one run.

    python bench/bench_report.py [--trials 50] [--study-dir results/default] [--json PATH]

Without --study-dir the study is scripted (study/testing/scripted.py: the tuner's own record
writers, 7-epoch histories); with it, a copy of a real study is reported. The
figure of merit is the wall time of the whole `report` command against the 30 s
budget, in a fresh process (imports included), as a user runs it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import emit  # noqa: E402

BUDGET_S = 30.0


def _stages(study_dir: Path) -> dict:
    """Seconds of each stage of build_report, in this process."""
    from study.report import analysis, load_study, plots, render, summarise

    t = [time.perf_counter()]
    study = load_study(study_dir)
    t.append(time.perf_counter())
    importance = analysis.importances(study)
    t.append(time.perf_counter())
    summary = summarise(study, importance)
    out = study_dir / "report-stages"
    plots.draw_objective(analysis.objective_series(study), [], out / "objective.png")
    names = summary.hyperparameter_names
    plots.draw_hyperparameters(plots.hyperparameter_data(study, names), out / "hp.png")
    curves = plots.learning_curve_data(analysis.top_trials(study, 5))
    plots.draw_learning_curves(curves, out / "curves.png")
    plots.draw_importances(importance.values, importance.note, out / "importances.png")
    plots.draw_wall_time(study.trials, out / "wall.png")
    t.append(time.perf_counter())
    render.report_html(summary)
    render.report_markdown(summary)
    t.append(time.perf_counter())
    return {
        "read_s": t[1] - t[0],
        "importances_s": t[2] - t[1],
        "figures_s": t[3] - t[2],
        "render_s": t[4] - t[3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--study-dir", type=Path, help="a real study to copy and report")
    parser.add_argument("--quick", action="store_true", help="5 scripted trials")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    trials = 5 if args.quick else args.trials
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp)
        if args.study_dir:
            shutil.copytree(args.study_dir, results / "s", ignore=shutil.ignore_patterns("tuner"))
            source = str(args.study_dir)
        else:
            from study.testing.scripted import write_study

            statuses = ["COMPLETED"] * (trials - 2) + ["FAILED", "RUNNING"]
            write_study(results, "s", statuses[:trials], seed=0)
            source = "scripted"
        command = [sys.executable, str(ROOT / "run_study.py"), "report", "--study", "s"]
        start = time.perf_counter()
        subprocess.run([*command, "--results", str(results)], check=True, capture_output=True)
        wall = time.perf_counter() - start
        stages = _stages(results / "s")
        recorded = len(list((results / "s" / "trials").glob("*/report.json")))
    print(f"study: {source}")
    emit(
        {
            "trials": recorded,
            "report_wall_s": wall,
            "budget_s": BUDGET_S,
            "wall_over_budget": wall / BUDGET_S,
            **stages,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
