"""One network and recipe trained on a whole training split: test excess after every epoch.

    python bench/bench_recipe.py [--data DIR] [--rows 2500000] [--set NAME=VALUE ...]
                                 [--patience-1 P] [--patience-2 P] [--cap E]
                                 [--test-rows 400000] [--trial DIR] [--smoothing S]
                                 [--decay-2 D] [--ema M] [--json PATH] [--quick]

What a retrain on all the data can reach, and when: the network of `--set` values (the
default is the issue-16 reference, 10 x 100 residual gelu, Adam 2e-3 then x 0.15, batch
1024) trained with the study's own two-phase schedule (`train_two_phase`, label smoothing
in phase 1, best weights restored per phase) on the full training split of a prepared
dataset with its true probability (default: a generated sample of `--rows`), printing per
epoch the wall time, phase rate, validation cross-entropy and the test excess over the
Bayes cross-entropy on the first `--test-rows` test rows; at the end the excess on the
whole test split. `--trial results/<study>/trials/<id>` trains that trial's network from
the weights it ended with (the final fit's continuation, its L2 divided as the final
fit's), `--decay-2` and `--ema` the phase-2 decay and weight averaging of issue 26. It is
how the retrain's patience, its recipe and the default sample size were chosen
(bench/README.md).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import emit

REFERENCE = {
    "n_blocks": 10,
    "width": 100,
    "activation": "gelu",
    "optimizer": "adam",
    "learning_rate": 2e-3,
    "fine_tune_factor": 0.15,
    "batch_size": 1024,
    "l2": 1e-5,
}


def cross_entropy(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def parse_values(pairs: list[str]) -> dict:
    """REFERENCE with `NAME=VALUE` pairs applied, each value of its default's type."""
    values = dict(REFERENCE)
    for pair in pairs:
        name, _, text = pair.partition("=")
        if name not in values or not text:
            raise SystemExit(f"--set {pair!r}: expected NAME=VALUE, NAME one of {list(values)}")
        values[name] = type(REFERENCE[name])(text)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a prepared dataset with the truth column")
    parser.add_argument("--rows", type=int, default=2_500_000, help="rows to generate otherwise")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--patience-1", type=int, default=3)
    parser.add_argument("--patience-2", type=int, default=3)
    parser.add_argument("--cap", type=int, default=100, help="epochs a phase at most")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--trial", type=Path, help="a study's trials/<id>/: its network, and "
                        "its weights to start from (the final fit's continuation)")  # fmt: skip
    parser.add_argument("--scratch", action="store_true", help="--trial's network, not weights")
    parser.add_argument("--smoothing", type=float, default=0.01, help="phase 1's")
    parser.add_argument("--decay-2", type=float, default=1.0, help="phase 2's rate decay an epoch")
    parser.add_argument("--ema", type=float, default=0.0, help="moving-average momentum (0: none)")
    parser.add_argument("--test-rows", type=int, default=400_000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 2 epochs a phase")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.cap, args.test_rows = 20_000, 2, 5_000

    import keras

    from study.data.dataset import open_dataset
    from study.data.prepare import generate_dataset
    from study.data.synthetic import TRUTH, bayes_cross_entropy

    values = parse_values(args.set)
    if args.trial is not None:  # the trial's network, the recipe of --set
        import json

        report = json.loads((args.trial / "report.json").read_text())
        chosen = report["hyperparameters"]
        from study.best.recipe import NETWORK

        values.update({k: chosen[k] for k in NETWORK})
        searched = report.get("training_rows")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "d"
            generate_dataset(args.rows, data, seed=0)
        dataset = open_dataset(data, check_values=False)
        train, validation = dataset.train.to_numpy(), dataset.validation.to_numpy()
        xt, yt = dataset.test.to_numpy()
        truth = dataset.test.to_pandas([TRUTH])[TRUTH].to_numpy()
    if args.trial is not None:  # the final fit's L2: the trial's over the growth of the rows
        from types import SimpleNamespace

        from study.best.recipe import l2_share

        values["l2"] *= l2_share(SimpleNamespace(training_rows=searched), len(train[0]))
    n = min(args.test_rows, len(xt))
    xs, ys, bayes_s = xt[:n], yt[:n, 0], bayes_cross_entropy(truth[:n])
    print(f"{values}; {len(train[0]):,} training rows, patience {args.patience_1}/"
          f"{args.patience_2}", flush=True)  # fmt: skip
    start = time.perf_counter()

    class Excess(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            p = self.model.predict(xs, batch_size=16384, verbose=0)[:, 0]
            print(
                f"{time.perf_counter() - start:7.0f} s  epoch {epoch:3d}  "
                f"lr {float(self.model.optimizer.learning_rate):.2e}  "
                f"val_bce {logs.get('val_bce', float('nan')):.5f}  "
                f"test excess ({n:,} rows) {cross_entropy(p, ys) - bayes_s:.5f}",
                flush=True,
            )

    from study.best.recipe import trial_weights
    from study.training import fit

    begin = fit.start(
        values, train[0].shape[1], args.seed, None,
        patience_1=args.patience_1, patience_2=args.patience_2,
        max_epochs_1=args.cap, max_epochs_2=args.cap, label_smoothing_1=args.smoothing,
        decay_2=args.decay_2, ema_momentum=args.ema,
    )  # fmt: skip
    model = begin.model
    if args.trial is not None and not args.scratch:
        model.set_weights(trial_weights(args.trial))
        p = model.predict(xs, batch_size=16384, verbose=0)[:, 0]
        print(f"start: trial {args.trial.name}'s weights, test excess "
              f"{cross_entropy(p, ys) - bayes_s:.5f}", flush=True)  # fmt: skip
    result = fit.fit(values, begin, train, validation, callbacks=[Excess()])
    wall = time.perf_counter() - start
    p = model.predict(xt, batch_size=16384, verbose=0)[:, 0]
    emit(
        {
            "wall_s": wall,
            "excess_nats": cross_entropy(p, yt[:, 0]) - bayes_cross_entropy(truth),
            "epochs_1": result.epochs_1,
            "epochs_2": result.epochs_2,
            "training_rows": len(train[0]),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
