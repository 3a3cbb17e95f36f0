"""The final fit's epoch against the hardware, per Keras backend: where its seconds go.

    python bench/bench_epoch.py --data DATASET [--backends tensorflow,jax] [--repeats 2]
                                [--network 10x100:gelu] [--epochs 3] [--json PATH]

For the network a study picks (default 10 x 100 gelu) trained as the final fit trains it
on a whole prepared dataset (the full-data recipe: Adam 2e-3, batch 2048, the weight
average of study/best/recipe.py), each backend in a fresh process, alternating:
- epoch: the median whole epoch of `train_two_phase` (training pass, validation pass,
  callbacks), the epochs after the first; `compile`: the first epoch's extra seconds;
- train pass: a bare `model.fit` epoch on the same arrays, same batch and compile settings,
  no validation, no callbacks; at batch 8192 too, whence the per-step overhead (a row's
  seconds fitted as a + b / batch: b's share at batch 2048);
- validation pass: `model.evaluate` of the validation split at batch 8192 (its second call);
- rest: epoch - train pass - validation pass (weight average, shuffling, callbacks);
- arithmetic: the network's FLOPs (6 a parameter a training row, 2 a validation row) at the
  machine's float32 GEMM rate, numpy's, at n = 2048 and at the layer's own shape
  (2048 x width @ width x width), measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_train import EpochTimes, gemm_gflops, gemm_gflops_shape
from common import emit

BATCH, BIG_BATCH = 2048, 8192


def network_values(spec: str) -> dict:
    """`10x100:gelu` as the final fit's hyperparameter values (full-data recipe, no L2)."""
    shape, _, activation = spec.partition(":")
    blocks, width = (int(v) for v in shape.split("x"))
    return {"n_blocks": blocks, "width": width, "activation": activation or "gelu",
            "optimizer": "adam", "learning_rate": 2e-3, "fine_tune_factor": 0.15,
            "batch_size": BATCH, "l2": 0.0}  # fmt: skip


def child(data: Path, spec: str, epochs: int) -> dict:
    """The measures of one backend (this process's KERAS_BACKEND)."""
    import keras

    from study.best.recipe import ema_momentum
    from study.data.dataset import open_dataset
    from study.training import fit
    from study.training.network import make_optimizer
    from study.training.schedule import _compile

    dataset = open_dataset(data, check_values=False)
    train, validation = dataset.train.to_numpy(), dataset.validation.to_numpy()
    values = network_values(spec)
    ema = ema_momentum(len(train[0]), BATCH)
    begin = fit.start(values, train[0].shape[1], 0, patience_1=99, patience_2=99,
                      max_epochs_1=epochs, max_epochs_2=1, ema_momentum=ema)  # fmt: skip
    result = fit.fit(values, begin, train, validation)
    seconds = [r.seconds for r in result.history if r.phase == 1]
    epoch = statistics.median(seconds[1:])
    out = {"epoch_s": epoch, "compile_s": seconds[0] - epoch, "train_rows": len(train[0]),
           "validation_rows": len(validation[0]),
           "parameters": begin.model.count_params()}  # fmt: skip
    keras.backend.clear_session()
    for batch in (BATCH, BIG_BATCH):  # a fresh network each (JAX's donated buffers)
        model = fit.start(values, train[0].shape[1], 0, patience_1=1, patience_2=1,
                          max_epochs_1=1, max_epochs_2=1).model  # fmt: skip
        _compile(model, make_optimizer("adam", 2e-3), 0.0)
        times = EpochTimes()
        model.fit(*train, batch_size=batch, epochs=epochs, shuffle=True, callbacks=[times],
                  verbose=0)  # fmt: skip
        out[f"train_pass_{batch}_s"] = statistics.median(times.seconds[1:])
    for _ in range(2):
        start = time.perf_counter()
        model.evaluate(*validation, batch_size=8192, verbose=0)
        out["validation_pass_s"] = time.perf_counter() - start
    return out


def breakdown(m: dict, gemm: float, gemm_layer: float) -> dict:
    """The epoch's parts and the arithmetic limits from one backend's measures `m`."""
    steps = -(-m["train_rows"] // BATCH), -(-m["train_rows"] // BIG_BATCH)
    t, t_big = m[f"train_pass_{BATCH}_s"], m[f"train_pass_{BIG_BATCH}_s"]
    per_step = max(t - t_big, 0.0) / max(steps[0] - steps[1], 1)
    flop = m["parameters"] * (6 * m["train_rows"] + 2 * m["validation_rows"])
    return {
        **m,
        "per_step_overhead_s": per_step * steps[0],
        "rest_s": m["epoch_s"] - t - m["validation_pass_s"],
        "arithmetic_s": flop / (gemm * 1e9),
        "arithmetic_layer_shape_s": flop / (gemm_layer * 1e9),
        "epoch_over_arithmetic": m["epoch_s"] / (flop / (gemm * 1e9)),
        "epoch_over_layer_shape_arithmetic": m["epoch_s"] / (flop / (gemm_layer * 1e9)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a prepared dataset")
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of each")
    parser.add_argument("--network", default="10x100:gelu", help="BLOCKSxWIDTH:ACTIVATION")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each measure")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.data, args.network, args.epochs)))
        return
    width = network_values(args.network)["width"]
    gemm, gemm_layer = gemm_gflops(), gemm_gflops_shape(BATCH, width, width)
    figures: dict = {"gemm_gflops": gemm, "gemm_layer_shape_gflops": gemm_layer}
    runs: dict[str, list[dict]] = {}
    for repeat in range(args.repeats):
        for backend in args.backends.split(","):
            command = [sys.executable, __file__, "--child", "--data", str(args.data)]
            command += ["--network", args.network, "--epochs", str(args.epochs)]
            env = {**os.environ, "KERAS_BACKEND": backend}
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise SystemExit(f"{backend} run failed:\n{done.stderr[-3000:]}")
            m = breakdown(json.loads(done.stdout.splitlines()[-1]), gemm, gemm_layer)
            runs.setdefault(backend, []).append(m)
            print(f"repeat {repeat + 1} {backend}: {json.dumps(m)}", flush=True)
    for backend, done in runs.items():
        for key in done[0]:
            figures[f"{backend}_{key}"] = statistics.median(r[key] for r in done)
    emit(figures, args.json)


if __name__ == "__main__":
    main()
