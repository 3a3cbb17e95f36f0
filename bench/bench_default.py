"""The default study end to end: `python run_study.py --trials 50`, timed by stage.

    python bench/bench_default.py [--trials 50] [--results DIR] [--json PATH] [--quick]

Runs the real command in a fresh process on a fresh results directory (so the
embedded default sample is generated, as on a first run), stamps every line it
prints, and splits the wall time into stages at the lines that open them:

- start-up and data: process start, imports, generating the default sample;
- search: from "starting study" to "N trials ended";
- retrain: to the retrained best's last epoch;
- validation: predicting the test split, histograms and figures ("test split:");
- export: the SavedModel, its check and the model card ("export checked");
- report: the study's report ("report:").

The retrained model's test excess over the Bayes cross-entropy (the generated
sample keeps the true probability) comes from `best/export/model_card.json`.
Targets (performance issue): under 30 minutes, excess under 0.005 nats.
`--quick`: 2 tiny trials on 4,000 rows, ~1 minute, to check the script itself.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import emit

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS, TARGET_EXCESS = 30 * 60, 0.005
QUICK = [
    "--trials", "2", "--default-rows", "4000", "--max-epochs", "2", "--retrain-max-epochs", "2",
    "--narrow", "width=16:32", "--narrow", "n_blocks=1:2",
]  # fmt: skip

# stage -> the line that ends it (the next stage begins there); "last" for the last such line
STAGE_ENDS = [
    ("startup_and_data", "starting study", "first"),
    ("search", "trials ended", "first"),
    ("retrain", "retrain epoch", "last"),
    ("validation", "test split:", "first"),
    ("export", "export checked", "first"),
    ("report", "  report:", "first"),
]


def run_stamped(command: list[str], log_path: Path) -> tuple[list[tuple[float, str]], int]:
    """Run `command`, echo and log its output; return (seconds since start, line) pairs."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    lines = []
    with (
        open(log_path, "w") as log,
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as proc,
    ):
        for line in proc.stdout:
            stamp = time.perf_counter() - start
            lines.append((stamp, line.rstrip("\n")))
            log.write(f"{stamp:9.2f} {line}")
            if not line.startswith("  epoch") and "retrain epoch" not in line:
                print(f"{stamp:8.1f}s {line}", end="", flush=True)
    return lines + [(time.perf_counter() - start, "")], proc.returncode


def stage_seconds(lines: list[tuple[float, str]]) -> dict:
    """Seconds of each stage of STAGE_ENDS, from the stamped lines of the study's output."""
    out, begin = {}, 0.0
    for stage, marker, which in STAGE_ENDS:
        stamps = [t for t, line in lines if marker in line and t >= begin]
        if not stamps:
            raise RuntimeError(f"no line with {marker!r} in the study's output")
        end = stamps[0] if which == "first" else stamps[-1]
        out[f"{stage}_seconds"] = end - begin
        begin = end
    out["other_seconds"] = lines[-1][0] - begin  # after the report line: exit
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--results", type=Path, help="results dir (default: a new temp dir)")
    parser.add_argument("--quick", action="store_true", help="2 tiny trials on 4,000 rows")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        results = args.results or Path(tmp) / "results"
        if results.exists() and any(results.iterdir()):
            sys.exit(f"bench_default: {results} is not empty (the bench times a first run)")
        command = [sys.executable, "run_study.py", "--results", str(results)]
        command += QUICK if args.quick else ["--trials", str(args.trials)]
        print("running:", " ".join(command), flush=True)
        lines, code = run_stamped(command, Path(tmp) / "study.log")
        if code != 0:
            sys.exit(f"bench_default: the study exited {code}")
        study = results / "default"
        card = json.loads((study / "best" / "export" / "model_card.json").read_text())
        rows = [json.loads(p.read_text()) for p in (study / "trials").glob("*/report.json")]

    wall = lines[-1][0]
    excess = card["test_metrics"]["excess"]
    figures = {
        "wall_seconds": wall,
        **stage_seconds(lines),
        "trials": len(rows),
        "trials_completed": sum(r["status"] == "COMPLETED" for r in rows),
        "best_trial": card["trial_id"],
        "search_objective": card["search_objective"],
        "retrain_objective": card["retrain_objective"],
        "test_cross_entropy": card["test_metrics"]["test_cross_entropy"],
        "bayes_cross_entropy": card["test_metrics"]["bayes_cross_entropy"],
        "test_excess_nats": excess,
        "wall_over_target": wall / TARGET_SECONDS,
        "excess_over_target": excess / TARGET_EXCESS,
    }
    emit(figures, args.json)


if __name__ == "__main__":
    main()
