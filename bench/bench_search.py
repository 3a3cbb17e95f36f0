"""Search efficiency: best objective against training epochs consumed, per tuner, over seeds.

    python bench/bench_search.py [--seeds 3] [--budget 80] [--rows 20000] [--json PATH]
                                 [--plot PATH] [--quick]

Methods: keras-tuner random, keras-tuner bayesian, Optuna TPE, TPE + median
pruning, TPE + Hyperband pruning. Each run is a real study (the tuner, trial
processes, both phases) on the same generated default data and the same search
space, and gets the same budget in total training epochs: no new trial starts
once the epochs of the ended trials reach the budget. After the search, each
run's best trial is retrained here with the same schedule and its test excess
over the Bayes cross-entropy is measured with the known true probability.

Figure of merit: epochs tpe + median pruning needs to reach random search's final
best objective, divided by the epochs random search needed to reach it (per seed,
median over seeds: `epochs_ratio_vs_random`). A run that never reaches the target
counts with all its epochs (the ratio is then a lower bound; `not_reached` counts them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from common import emit, study_tuner, train_values

METHODS = {
    "random": ("random", "none"),
    "bayesian": ("bayesian", "none"),
    "tpe": ("tpe", "none"),
    "tpe_median": ("tpe", "median"),
    "tpe_hyperband": ("tpe", "hyperband"),
}


def run_search(method: str, seed: int, budget: int, root: Path, data: Path, settings: dict):
    """One budgeted study; returns [(epochs consumed, best objective so far)] and the best hps."""
    from study import tuner as tuner_module
    from study.config import StudyConfig

    tuner_kind, prune = METHODS[method]
    config = StudyConfig(
        study=f"{method}-{seed}",
        results=str(root),
        data=str(data),
        tuner=tuner_kind,
        prune=prune,
        seed=seed,
        # the epoch budget ends the search; this sizes the random start of TPE and bayesian
        trials=max(4, budget // 4),
        max_failures=10,
        **settings,
    )
    curve: list[tuple[int, float]] = []
    consumed = [0]

    class Budgeted(tuner_module.AcceptanceTuner):
        def on_trial_end(self, trial):
            history = self._outcome.get(trial.trial_id, {}).get("history", [])
            consumed[0] += len(history)
            super().on_trial_end(trial)
            best = self.oracle.get_best_trials(1)
            curve.append((consumed[0], best[0].score if best else float("inf")))
            if consumed[0] >= budget or len(self.oracle.trials) >= self.config.trials:
                self.oracle.max_trials = len(self.oracle.trials)  # create_trial: STOPPED

    tuner, dataset = study_tuner(config, Budgeted)
    tuner_module.search(tuner)
    best = tuner.oracle.get_best_trials(1)[0]
    return curve, dict(best.hyperparameters.values), dataset, config


def test_excess(dataset, config, values: dict, seed: int) -> float:
    """Retrain `values` with the study's schedule; excess of its test CE over Bayes CE."""
    import keras

    from study.data.synthetic import TRUTH
    from study.validation import truth_metrics

    model, _ = train_values(
        values,
        dataset.train.to_numpy(),
        dataset.validation.to_numpy(),
        seed,
        patience_1=config.patience_1,
        patience_2=config.patience_2,
        max_epochs_1=config.max_epochs,
        max_epochs_2=config.max_epochs,
    )
    x, y = dataset.test.to_numpy()
    prob = model.predict(x, batch_size=8192, verbose=0).ravel()
    truth = dataset.test.to_pandas([TRUTH])[TRUTH].to_numpy()
    keras.backend.clear_session()
    return truth_metrics(y.ravel(), prob, truth)["excess"]


def epochs_to_reach(curve: list[tuple[int, float]], target: float) -> tuple[int, bool]:
    """Epochs consumed when the best-so-far first reached `target` (or all of them)."""
    for epochs, best in curve:
        if best <= target + 1e-12:
            return epochs, True
    return curve[-1][0], False


def draw(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (method, runs) in enumerate(curves.items()):
        for k, curve in enumerate(runs):
            x, y = zip(*curve, strict=True)
            ax.step(x, y, where="post", color=f"C{i}", alpha=0.8, label=method if k == 0 else None)
    ax.set_xlabel("training epochs consumed (all trials)")
    ax.set_ylabel("best objective so far (val_bce)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=80, help="training epochs per run")
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the default sample")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--quick", action="store_true", help="1 seed, budget 6, 2 methods")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, default=Path("bench_search.png"))
    parser.add_argument("--runs-json", type=Path, help="write every run's curve here")
    args = parser.parse_args()
    methods = ["random", "tpe_median"] if args.quick else args.methods.split(",")
    seeds = 1 if args.quick else args.seeds
    budget = 6 if args.quick else args.budget
    rows = 6_000 if args.quick else args.rows
    settings = dict(
        max_epochs=4,
        patience_1=2,
        patience_2=2,
        narrowed={"width": "16:128", "n_blocks": "1:6"},
    )
    from study.data.dataset import generate_dataset

    start = time.perf_counter()
    curves: dict[str, list] = {m: [] for m in methods}
    excess: dict[str, list] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate_dataset(rows, data, seed=123)
        for seed in range(seeds):
            for method in methods:
                t0 = time.perf_counter()
                curve, values, dataset, config = run_search(
                    method, seed, budget, Path(tmp), data, settings
                )
                curves[method].append(curve)
                excess[method].append(test_excess(dataset, config, values, seed))
                print(
                    f"seed {seed} {method:<14} trials {len(curve):>3}  epochs {curve[-1][0]:>4}  "
                    f"best {curve[-1][1]:.5f}  test excess {excess[method][-1]:.4f}  "
                    f"({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
    figures: dict = {"seeds": seeds, "budget_epochs": budget, "rows": rows}
    for method in methods:
        figures[f"{method}_best_median"] = statistics.median(c[-1][1] for c in curves[method])
        figures[f"{method}_test_excess_median"] = statistics.median(excess[method])
        figures[f"{method}_trials_median"] = statistics.median(len(c) for c in curves[method])
    target_method = "tpe_median"
    if "random" in methods and target_method in methods:
        ratios, missed = [], 0
        for rand, other in zip(curves["random"], curves[target_method], strict=True):
            target = rand[-1][1]
            rand_epochs, _ = epochs_to_reach(rand, target)
            other_epochs, reached = epochs_to_reach(other, target)
            missed += not reached
            ratios.append(other_epochs / rand_epochs)
        figures["epochs_ratio_vs_random"] = statistics.median(ratios)
        figures["not_reached"] = missed
        for method in methods:
            if method in ("random", target_method):
                continue
            per = [
                epochs_to_reach(o, r[-1][1])[0] / epochs_to_reach(r, r[-1][1])[0]
                for r, o in zip(curves["random"], curves[method], strict=True)
            ]
            figures[f"{method}_epochs_ratio_vs_random"] = statistics.median(per)
    figures["wall_seconds"] = time.perf_counter() - start
    draw(curves, args.plot)
    if args.runs_json:
        args.runs_json.write_text(json.dumps({"curves": curves, "excess": excess}, indent=1))
    emit(figures, args.json)


if __name__ == "__main__":
    main()
