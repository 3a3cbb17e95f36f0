"""Search methods at equal wall time: the final model's test excess and the best-so-far curve.

    python bench/bench_search.py [--budget 8m] [--seeds 3] [--rows 2500000]
                                 [--methods random,bayesian,hyperband,tpe_hyperband]
                                 [--json PATH] [--plot PATH] [--runs-json PATH] [--quick]

Each run is the real study command, `run_study.py --time-budget BUDGET`, on the same
generated sample (its own seed, apart from the runs' seeds), with every default but
the method: the search on the subsample, then the chosen trial retrained on the full
training split, validated on the test split and exported, all inside the budget.
Methods: keras-tuner's random search, its Bayesian optimisation, its Hyperband
(rungs over global epochs, promoted trials continue from checkpoints), and Optuna's
TPE with a Hyperband pruner.

Scores per run: the exported model's test excess over the Bayes cross-entropy (the
sample keeps the true probability) and the time-averaged best-so-far validation
cross-entropy of the search (the area under the best-so-far curve in wall time
divided by the search's duration; before the first trial ends, that trial's value).
Figures: the median of each over the seeds, per method, and each method's median
excess over random search's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import emit

ROOT = Path(__file__).resolve().parents[1]
METHODS = {
    "random": ["--tuner", "random"],
    "bayesian": ["--tuner", "bayesian"],
    "hyperband": ["--tuner", "hyperband"],
    "tpe_hyperband": ["--tuner", "tpe", "--prune", "hyperband"],
}
QUICK = [
    "--search-rows", "2000", "--max-epochs", "2", "--narrow", "width=8:16",
    "--narrow", "n_blocks=1:2", "--retrain-max-epochs", "3",
]  # fmt: skip


def run_study(method: str, seed: int, budget: str, data: Path, root: Path, extra: list) -> dict:
    """One study of `method` under `budget`: its wall time, excess and best-so-far curve."""
    study = f"{method}-{seed}"
    command = [
        sys.executable, str(ROOT / "run_study.py"), "--data", str(data), "--results", str(root),
        "--study", study, "--seed", str(seed), "--trials", "1000", "--time-budget", budget,
        "--no-report", *METHODS[method], *extra,
    ]  # fmt: skip
    begin_unix, begin = time.time(), time.perf_counter()
    with open(root / f"{study}.log", "w") as log:
        subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)
    wall = time.perf_counter() - begin
    card = json.loads((root / study / "best" / "export" / "model_card.json").read_text())
    reports = [json.loads(p.read_text()) for p in (root / study / "trials").glob("*/report.json")]
    return {
        "wall_s": wall,
        "excess": card["test_metrics"]["excess"],
        "converged": bool(card.get("converged")),
        "trials": len(reports),
        "curve": best_so_far(reports, begin_unix),
    }


def best_so_far(reports: list[dict], begin: float) -> list[tuple[float, float]]:
    """(seconds since the study began, best completed objective so far) at each trial's end."""
    ended = sorted(
        (r["finished_at"] - begin, r["objective"])
        for r in reports
        if r.get("finished_at") and r["status"] == "COMPLETED" and r.get("objective")
    )
    curve, best = [], float("inf")
    for seconds, objective in ended:
        best = min(best, objective)
        curve.append((seconds, best))
    return curve


def time_averaged(curve: list[tuple[float, float]]) -> float:
    """Area under the best-so-far step curve over [0, last end], divided by that time;
    before the first end, the first value."""
    if not curve:
        return float("nan")
    area, (t_prev, value) = 0.0, (0.0, curve[0][1])
    for t, best in curve:
        area += (t - t_prev) * value
        t_prev, value = t, best
    return area / t_prev if t_prev > 0 else value


def draw(runs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (method, results) in enumerate(runs.items()):
        for k, run in enumerate(results):
            if run["curve"]:
                x, y = zip(*run["curve"], strict=True)
                ax.step(x, y, where="post", color=f"C{i}", label=None if k else method)
    ax.set_xlabel("wall seconds since the study began")
    ax.set_ylabel("best validation cross-entropy so far")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="8m", help="wall-time budget of every study")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2_500_000, help="rows of the sample")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 methods, 40 s, tiny")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, default=Path("bench_search.png"))
    parser.add_argument("--runs-json", type=Path, help="every run's figures and curve")
    args = parser.parse_args()
    methods = ["random", "hyperband"] if args.quick else args.methods.split(",")
    seeds = 1 if args.quick else args.seeds
    budget, rows = ("40s", 6_000) if args.quick else (args.budget, args.rows)
    from study.data.prepare import generate_dataset

    start = time.perf_counter()
    runs: dict[str, list] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate_dataset(rows, data, seed=123)
        for seed in range(seeds):
            for method in methods:  # in turn, so that a drift of the machine hits all
                run = run_study(method, seed, budget, data, Path(tmp), QUICK if args.quick else [])
                runs[method].append(run)
                print(
                    f"seed {seed} {method:<14} trials {run['trials']:>3}"
                    f"  wall {run['wall_s']:5.0f} s"
                    f"  best-so-far mean {time_averaged(run['curve']):.5f}"
                    f"  test excess {run['excess']:.5f}"
                    f"{'' if run['converged'] else '  (retrain not converged)'}",
                    flush=True,
                )
    from study.durations import parse_duration

    figures: dict = {"seeds": seeds, "budget_s": parse_duration(budget), "rows": rows}
    for method in methods:
        figures[f"{method}_excess_median"] = statistics.median(r["excess"] for r in runs[method])
        figures[f"{method}_time_averaged_best_median"] = statistics.median(
            time_averaged(r["curve"]) for r in runs[method]
        )
        figures[f"{method}_trials_median"] = statistics.median(r["trials"] for r in runs[method])
        figures[f"{method}_wall_s_median"] = statistics.median(r["wall_s"] for r in runs[method])
    if "random" in methods:
        for method in methods:
            figures[f"{method}_excess_over_random"] = (
                figures[f"{method}_excess_median"] / figures["random_excess_median"]
            )
    figures["wall_seconds"] = time.perf_counter() - start
    draw(runs, args.plot)
    if args.runs_json:
        args.runs_json.write_text(json.dumps(runs, indent=1))
    emit(figures, args.json)


if __name__ == "__main__":
    main()
