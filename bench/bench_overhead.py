"""Where a study of small trials spends its wall time, with and without pre-started trials.

    python bench/bench_overhead.py [--trials 20] [--json PATH] [--quick]

A 20-trial study of small models (width 16-64, 1-4 blocks, 2 epochs a phase) on
20k generated rows, run twice in this process: with the next trial's process
started while a trial trains (the default) and without (each trial waits for
its process to import the backend). Wall time is split into
- epochs: the trials' epochs (training and the validation pass after each);
- data loading and model building, in the trial processes;
- trial start-up: the rest of each trial's time in the study process (waiting
  for its process and backend, compile and first-step tracing beyond a steady epoch);
- bookkeeping: the study's time outside trials (oracle, state files, records, table,
  the optuna.db mirror); `timed_bookkeeping_s` and `mirror_s` are the study's own timer
  of it (bookkeeping.json, study/search/bookkeeping.py).
Target: bookkeeping under 2 % of wall time (issue 19; 5 % before).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from common import SMALL_STUDY, emit, study_tuner


def run_study(root: Path, name: str, trials: int) -> dict:
    from study.config import StudyConfig
    from study.search import loop

    config = StudyConfig(study=name, results=str(root), trials=trials, **SMALL_STUDY)
    tuner, _ = study_tuner(config)
    start = time.perf_counter()
    loop.search(tuner)
    wall = time.perf_counter() - start
    trial_s = epochs_s = data_s = build_s = first_extra_s = 0.0
    for path in (config.study_dir / "trials").glob("*/report.json"):
        report = json.loads(path.read_text())
        history = (path.parent / "history.csv").read_text().splitlines()[1:]
        seconds = [float(line.split(",")[-1]) for line in history]
        trial_s += report["seconds"]
        epochs_s += sum(seconds)
        data_s += report.get("data_seconds", 0.0)
        build_s += report.get("build_seconds", 0.0)
        first_extra_s += seconds[0] - statistics.median(seconds[1:])
    startup_s = trial_s - epochs_s - data_s - build_s
    timed = json.loads((config.study_dir / "bookkeeping.json").read_text())
    return {
        "timed_bookkeeping_s": timed["bookkeeping_s"],
        "mirror_s": timed["mirror_s"],
        "wall_s": wall,
        "epochs_s": epochs_s,
        "data_s": data_s,
        "build_s": build_s,
        "startup_s": startup_s,
        "first_epoch_extra_s": first_extra_s,
        "bookkeeping_s": wall - trial_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="2 trials each way")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    trials = 2 if args.quick else args.trials

    from study.search import trial_process

    figures: dict = {"trials": trials}
    with tempfile.TemporaryDirectory() as tmp:
        for label, prestart in (("", True), ("cold_", False)):
            trial_process.PRESTART = prestart
            parts = run_study(Path(tmp), f"s{int(prestart)}", trials)
            wall = parts["wall_s"]
            figures.update({f"{label}{k}": v for k, v in parts.items()})
            figures[f"{label}bookkeeping_fraction"] = parts["bookkeeping_s"] / wall
            figures[f"{label}epochs_fraction"] = parts["epochs_s"] / wall
            figures[f"{label}startup_per_trial_s"] = parts["startup_s"] / trials
            print(f"prestart {prestart}: {wall:.1f} s", flush=True)
    figures["wall_over_cold"] = figures["wall_s"] / figures["cold_wall_s"]
    emit(figures, args.json)


if __name__ == "__main__":
    main()
