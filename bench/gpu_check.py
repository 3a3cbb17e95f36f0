"""The GPU check: what this machine's GPUs (or its CPU) give the study, one trial at a time
against K at once (`--parallel K`), measured in one run.

    python bench/gpu_check.py [--parallel 1,4,8] [--trials 16] [--rows 500000]
                              [--backend jax] [--results DIR] [--json PATH] [--quick]

It generates the default sample (`--rows`), then for each K runs the same study with
`--parallel K` (on every GPU nvidia-smi lists, `--gpus`; on the CPU without one): random
search over the learning rate and optimiser of one network (the notebook's 5 x 180 gelu,
batch 2048; `--quick`: 8 wide, one block), at most `--max-epochs` epochs a phase, then
the final fit (at most `--retrain-max-epochs` a phase), validation and export. For each
K it prints, side by side:
- `trial_rows_per_s`: training rows a second of one trial's epochs (the median trial);
- `trials_per_hour`: completed trials per hour of the search's wall time;
- `outside_training`: the median trial's share of its wall time spent outside its
  training epochs (process start, backend import, data, building, and the first epoch's
  excess over the others', which is XLA's or TensorFlow's compilation);
- `gpu_mb_per_trial`: the largest GPU memory one worker process held (nvidia-smi,
  polled every second, JAX without preallocation; 0 without a GPU);
- `excess_nats`: the exported model's test excess over the Bayes cross-entropy;
- `wall_s`: the whole command.
`--quick`: 20,000 rows, 4 trials, K = 1 and 2, CPU (CI's quick benches).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the working tree's package, installed or not (a GPU image)

from common import emit  # noqa: E402

from study.cli.parallel import gpu_memory  # noqa: E402

NETWORK = ["--fix", "n_blocks=5", "--fix", "width=180", "--fix", "activation=gelu",
           "--fix", "batch_size=2048"]  # fmt: skip
QUICK_NETWORK = ["--fix", "n_blocks=1", "--fix", "width=8", "--fix", "batch_size=512"]


def study_command(args, data: Path, results: Path, k: int, gpus: list[str]) -> list[str]:
    network = QUICK_NETWORK if args.quick else NETWORK
    command = [
        sys.executable, str(ROOT / "run_study.py"), "--data", str(data), "--results",
        str(results), "--study", f"k{k}", "--trials", str(args.trials), "--tuner", "random",
        *network, "--max-epochs", str(args.max_epochs), "--patience-1", "2", "--patience-2", "2",
        "--retrain-max-epochs", str(args.retrain_max_epochs), "--time-budget", "none",
        "--no-report", "--parallel", str(k),
    ]  # fmt: skip
    if args.quick:  # a few thousand rows: the trial's recipe, as the tests' tiny studies
        command += ["--retrain-recipe", "trial"]
    if gpus:
        command += ["--gpus", ",".join(gpus)]
    if args.backend:
        command += ["--backend", args.backend]
    return command


class GpuMemory:
    """The largest GPU memory (MiB) one worker process held while it ran (nvidia-smi; the
    chief's own process, which holds the final fit's, left out)."""

    def __init__(self, enabled: bool, chief_pid: int):
        self.peak, self._stop, self.chief_pid = 0.0, threading.Event(), str(chief_pid)
        self._thread = threading.Thread(target=self._poll, daemon=True) if enabled else None

    def __enter__(self):
        if self._thread:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _poll(self):
        query = ["nvidia-smi", "--query-compute-apps=pid,used_memory"]
        query += ["--format=csv,noheader,nounits"]
        while not self._stop.wait(1.0):
            done = subprocess.run(query, capture_output=True, text=True)
            for line in done.stdout.splitlines():
                parts = [p.strip() for p in line.split(",")]
                if parts[0] == self.chief_pid:
                    continue
                if len(parts) == 2 and parts[1].replace(".", "").isdigit():
                    self.peak = max(self.peak, float(parts[1]))


def trial_figures(study: Path) -> dict:
    """rows/s and the share outside training of the median completed trial."""
    rates, outside = [], []
    for path in study.glob("trials/*/report.json"):
        report = json.loads(path.read_text())
        if report["status"] != "COMPLETED":
            continue
        rates.append(report.get("rows_per_second") or 0.0)
        with open(path.parent / "history.csv") as f:
            epochs = [float(row["seconds"]) for row in csv.DictReader(f)]
        compile_s = epochs[0] - statistics.median(epochs[1:]) if len(epochs) > 1 else 0.0
        training = sum(epochs) - max(compile_s, 0.0)
        outside.append(max(report["seconds"] - training, 0.0) / max(report["seconds"], 1e-9))
    if not rates:
        raise SystemExit(f"{study}: no completed trial")
    return {
        "trial_rows_per_s": statistics.median(rates),
        "outside_training": statistics.median(outside),
        "completed": len(rates),
    }


def one(args, data: Path, results: Path, k: int, gpus: list[str]) -> dict:
    command = study_command(args, data, results, k, gpus)
    print("$", " ".join(command[1:]), flush=True)
    begin = time.perf_counter()
    # JAX allocates as it needs (no preallocated share): the memory figure is a trial's use
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    with open(results / f"k{k}.log", "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        with GpuMemory(bool(gpus), process.pid) as memory:
            if process.wait() != 0:
                raise SystemExit(f"--parallel {k}: exit {process.returncode}; {results}/k{k}.log")
    wall = time.perf_counter() - begin
    study = results / f"k{k}"
    figures = trial_figures(study)
    search_s = json.loads((study / "bookkeeping.json").read_text())["wall_s"]
    card = json.loads((study / "best" / "export" / "model_card.json").read_text())
    return {
        "trial_rows_per_s": figures["trial_rows_per_s"],
        "trials_per_hour": figures["completed"] * 3600.0 / max(search_s, 1e-9),
        "outside_training": figures["outside_training"],
        "gpu_mb_per_trial": memory.peak,
        "excess_nats": card["test_metrics"].get("excess", float("nan")),
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parallel", default=None, help="comma-separated K (default 1,4,8)")
    parser.add_argument("--trials", type=int, default=None, help="trials a study (default 16)")
    parser.add_argument("--rows", type=int, default=None, help="generated rows (default 500,000)")
    parser.add_argument("--max-epochs", type=int, default=10, dest="max_epochs")
    parser.add_argument("--retrain-max-epochs", type=int, default=10, dest="retrain_max_epochs")
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default=None)
    parser.add_argument("--results", type=Path, default=None, help="default: a temporary one")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 4 trials, K 1,2, CPU")
    args = parser.parse_args()
    if args.quick:
        args.max_epochs, args.retrain_max_epochs = 2, 2
    ks = [int(k) for k in (args.parallel or ("1,2" if args.quick else "1,4,8")).split(",")]
    args.trials = args.trials or (4 if args.quick else 16)
    rows = args.rows or (20_000 if args.quick else 500_000)
    gpus = [] if args.quick else sorted(gpu_memory())
    results = args.results or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    results.mkdir(parents=True, exist_ok=True)
    data = results / "data"
    if not (data / "preprocessing.json").exists():
        generate = [sys.executable, str(ROOT / "run_study.py"), "generate", "--rows", str(rows),
                    "--output", str(data), "--seed", "0"]  # fmt: skip
        subprocess.run(generate, cwd=ROOT, check=True, capture_output=True)
    device = f"GPUs {','.join(gpus)}" if gpus else "CPU"
    print(f"gpu_check on {device}: {rows:,} rows, {args.trials} trials a study, K = {ks}")
    figures = {"gpus": len(gpus), "rows": rows, "trials": args.trials}
    table = {}
    for k in ks:
        table[k] = one(args, data, results, k, gpus)
        figures.update({f"k{k}_{name}": value for name, value in table[k].items()})
    base = table[ks[0]]["trials_per_hour"]
    for k in ks[1:]:
        figures[f"k{k}_trials_per_hour_over_k{ks[0]}"] = table[k]["trials_per_hour"] / base
    names = list(table[ks[0]])
    print(f"{'figure':<20}" + "".join(f"{'K=' + str(k):>14}" for k in ks))
    for name in names:
        print(f"{name:<20}" + "".join(f"{table[k][name]:>14,.4g}" for k in ks))
    emit(figures, args.json)


if __name__ == "__main__":
    main()
