"""A tiny study run by a chief and 1 or 2 workers on loopback, and in one process.

    python bench/bench_distributed.py [--trials 8] [--json PATH] [--quick]

The same study three times on the same generated data (6,000 rows, width 8, one
block, at most 3 epochs a phase, no retraining, no report):
- single: `python run_study.py` in one process (the baseline);
- 1 worker: a chief (`--role chief`) and one worker on 127.0.0.1;
- 2 workers: a chief and two workers.
Wall time: from starting the processes to the chief's exit (the best of
`--repeats` runs, taken in alternating order). The chief's
overhead per trial: from the chief's log of trial events (`workers.jsonl`), the
time from a trial's end to the same worker's next trial start, i.e. the
worker's bookkeeping plus the round trips to the chief. `--quick`: 2 trials.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import emit

from study.testing.presets import tiny

ROOT = Path(__file__).resolve().parents[1]
TINY = [*tiny(), "--no-retrain", "--no-report"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(results: Path, data: Path, trials: int, workers: int) -> float:
    """Wall seconds of the study with `workers` workers (0: one process, no chief)."""
    study = [sys.executable, "run_study.py", "--results", str(results), "--study", "s"]
    chief = [*study, "--trials", str(trials), "--data", str(data), *TINY]
    address = f"127.0.0.1:{free_port()}"
    if workers:
        chief += ["--role", "chief", "--oracle", address]
    logs = results.parent / f"{results.name}.log"
    start = time.perf_counter()
    with open(logs, "w") as log:
        procs = [subprocess.Popen(chief, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)]
        for k in range(workers):
            worker = [*study, "--role", "worker", "--oracle", address, "--worker-id", f"w{k + 1}"]
            procs.append(subprocess.Popen(worker, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        codes = [p.wait() for p in procs]
    wall = time.perf_counter() - start
    if any(codes):
        sys.exit(f"bench_distributed: exit statuses {codes}; see {logs}")
    return wall


def gaps(events_path: Path) -> list[float]:
    """Seconds from each trial's end to its worker's next start (the chief's clock)."""
    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    ended_at: dict[str, float] = {}
    out = []
    for e in events:
        if e["event"] == "end":
            ended_at[e["worker"]] = e["time"]
        elif e["event"] == "start" and e["worker"] in ended_at:
            out.append(e["time"] - ended_at.pop(e["worker"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each (the best counts)")
    parser.add_argument("--quick", action="store_true", help="2 trials")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    trials = 2 if args.quick else args.trials

    from study.data.prepare import generate_dataset

    figures: dict = {"trials": trials}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate_dataset(6_000, data, seed=11, chunk_size=3_000, rows_per_file=1_000)
        walls: dict = {0: [], 1: [], 2: []}
        between: dict = {1: [], 2: []}
        for repeat in range(args.repeats):  # the order alternates: the machine drifts
            for workers in (0, 1, 2) if repeat % 2 == 0 else (2, 1, 0):
                results = Path(tmp) / f"r{workers}-{repeat}"
                walls[workers].append(run(results, data, trials, workers))
                wall = walls[workers][-1]
                print(f"{workers} worker(s), run {repeat + 1}: {wall:.1f} s", flush=True)
                if workers:
                    between[workers] += gaps(results / "s" / "workers.jsonl")
    for workers, key in ((0, "wall_single_process_s"), (1, "wall_1_worker_s"),
                         (2, "wall_2_workers_s")):  # fmt: skip
        figures[key] = min(walls[workers])
    for workers in (1, 2):
        figures[f"between_trials_s_{workers}"] = statistics.mean(between[workers])
    figures["chief_overhead_s_per_trial"] = figures["between_trials_s_1"]
    figures["chief_overhead_ms_per_trial"] = 1000 * figures["between_trials_s_1"]
    figures["speedup_2_over_1"] = figures["wall_1_worker_s"] / figures["wall_2_workers_s"]
    single = figures["wall_single_process_s"]
    figures["one_worker_over_single"] = figures["wall_1_worker_s"] / single
    emit(figures, args.json)


if __name__ == "__main__":
    main()
