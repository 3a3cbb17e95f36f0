"""Training throughput: our trial loop vs a bare `model.fit` vs the machine's GEMM limit.

    python bench/bench_train.py [--rows 80000] [--explore] [--json PATH] [--quick]

For three points of the search space (the notebook's network, a small and a
large one), measured in one run:
- trial loop: training rows/s of `train_two_phase` (what every trial runs: the
  prepared dataset's train split, both phases, its callbacks), from the median
  time from an epoch's start to its validation pass, epochs after the first of
  each phase (compilation excluded); and the same with the validation pass
  included (`trial_epoch_rows_per_s`, `validation_share_of_epoch`);
- bare fit: rows/s of `model.fit` on the same in-memory arrays, same batch
  size, optimiser and compile settings, no validation and no callbacks
  (the Keras ceiling);
- GEMM limit: the float32 matrix-product rate of this machine (numpy/BLAS,
  measured here, best of 5 at n=2048) divided by 6 FLOP x parameters per row
  per training step (forward 2, backward 4); and the same from numpy's rate at
  the network's own layer shape (batch x width @ width x width), which small
  widths do not run at the n=2048 rate.
`--explore` times the bare fit of the notebook's network over batch size,
`steps_per_execution`, `jit_compile` and TensorFlow's thread settings (intra-op
and inter-op pool sizes, each in a fresh process).
`--backends N` times the trial loop (`train_two_phase`, whole epochs) of the
notebook's network and of a 10 x 100 gelu Adam network under Keras's TensorFlow
backend (as the study runs it, and with XLA-compiled steps) and its JAX backend
(XLA-compiled, as Keras runs JAX), each in a fresh process, alternating N times
(needs `pip install "jax[cpu]"`).
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

import numpy as np
from common import emit, train_values

POINTS = {
    "notebook": {
        "n_blocks": 10,
        "width": 128,
        "activation": "tanh",
        "optimizer": "rmsprop",
        "learning_rate": 1e-3,
        "fine_tune_factor": 0.1,
        "batch_size": 2048,
        "l2": 1e-3,
    },
    "small": {
        "n_blocks": 2,
        "width": 32,
        "activation": "relu",
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "fine_tune_factor": 0.1,
        "batch_size": 1024,
        "l2": 1e-4,
    },
    "large": {
        "n_blocks": 8,
        "width": 512,
        "activation": "swish",
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "fine_tune_factor": 0.1,
        "batch_size": 2048,
        "l2": 1e-4,
    },
}


def gemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 GEMM rate of numpy's BLAS on this machine, GFLOP/s."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def gemm_gflops_shape(m: int, k: int, n: int, seconds: float = 1.0) -> float:
    """float32 GEMM rate at one layer's shape ([m x k] @ [k x n], e.g. batch x width @
    width x width), GFLOP/s: the small products a narrow network is made of."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    reps = max(1, int(seconds / max(_timed(lambda: a @ b), 1e-6)))
    best = min(_timed(lambda: [a @ b for _ in range(reps)]) for _ in range(3))
    return 2 * m * k * n * reps / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class EpochTimes:
    """A Keras callback factory recording each epoch's training time (up to its
    validation pass, if any) and its whole wall time."""

    def __new__(cls):
        import keras

        class _Times(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds, self.train_seconds = [], []

            def on_epoch_begin(self, epoch, logs=None):
                self.start, self.trained = time.perf_counter(), None

            def on_test_begin(self, logs=None):
                self.trained = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                end = time.perf_counter()
                self.seconds.append(end - self.start)
                self.train_seconds.append((self.trained or end) - self.start)

        return _Times()


def bare_fit(values: dict, x, y, epochs: int, **compile_options) -> float:
    """Rows/s of model.fit on in-memory arrays: median epoch after the first."""
    import keras

    from study.training.network import build_from_values, make_optimizer
    from study.training.schedule import STEPS_PER_EXECUTION

    keras.utils.set_random_seed(0)
    model = build_from_values(x.shape[1], values)
    options = {"steps_per_execution": STEPS_PER_EXECUTION, "jit_compile": False}
    options.update(compile_options)
    batch = options.pop("batch_size", int(values["batch_size"]))
    model.compile(
        optimizer=make_optimizer(values["optimizer"], values["learning_rate"]),
        loss=keras.losses.BinaryCrossentropy(label_smoothing=0.01),
        metrics=[keras.metrics.BinaryCrossentropy(name="bce")],
        **options,
    )
    times = EpochTimes()
    model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, callbacks=[times], verbose=0)
    keras.backend.clear_session()
    return len(x) / statistics.median(times.seconds[1:])


def trial_loop(values: dict, train, validation, epochs: int) -> tuple[float, float]:
    """Rows/s of the trial's own loop (`train_two_phase`): (training rows/s, the time to
    the epoch's validation pass; epoch rows/s, validation included), medians of the
    epochs after the first of each phase (compilation excluded)."""
    import keras

    times = EpochTimes()
    _, result = train_values(
        values,
        train,
        validation,
        0,
        callbacks=[times],
        patience_1=99,
        patience_2=99,
        max_epochs_1=epochs,
        max_epochs_2=2,
    )
    keras.backend.clear_session()
    steady = [i for i, r in enumerate(result.history) if r.epoch not in (0, result.switch_epoch)]
    rows = len(train[0])
    return (
        rows / statistics.median(times.train_seconds[i] for i in steady),
        rows / statistics.median(times.seconds[i] for i in steady),
    )


def explore(values: dict, x, y, epochs: int) -> dict:
    """Bare-fit rows/s of the notebook's network under each setting, one change at a time."""
    out = {}
    for batch in (512, 2048, 8192):
        out[f"explore_batch_{batch}_rows_per_s"] = bare_fit(values, x, y, epochs, batch_size=batch)
    for steps in (1, 32):
        out[f"explore_steps_{steps}_rows_per_s"] = bare_fit(
            values, x, y, epochs, steps_per_execution=steps
        )
    out["explore_jit_rows_per_s"] = bare_fit(values, x, y, epochs, jit_compile=True)
    return out


THREADS = ((0, 0), (1, 1), (2, 1), (1, 2), (2, 2), (4, 2))  # (intra-op, inter-op); 0: TF's


def explore_threads(rows: int, epochs: int) -> dict:
    """Bare-fit rows/s of the notebook's network per TensorFlow thread setting, each in a
    fresh process (the thread pools are fixed when TensorFlow starts)."""
    out = {}
    for intra, inter in THREADS:
        command = [sys.executable, __file__, "--fit-only", "--rows", str(rows)]
        command += ["--epochs", str(epochs), "--threads", f"{intra},{inter}"]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        name = "default" if intra == 0 else f"{intra}_{inter}"
        out[f"explore_threads_{name}_rows_per_s"] = float(done.stdout.split()[-1])
        print(f"threads {name}: {out[f'explore_threads_{name}_rows_per_s']:,.0f}", flush=True)
    return out


def fit_only(rows: int, epochs: int, threads: str) -> float:
    """The bare fit of the notebook's network alone, under the given thread setting."""
    import tensorflow as tf

    intra, inter = (int(v) for v in threads.split(","))
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    from study.data.dataset import open_dataset
    from study.data.prepare import generate_dataset

    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(rows, Path(tmp) / "d", seed=0)
        x, y = open_dataset(Path(tmp) / "d").train.to_numpy()
    return bare_fit(POINTS["notebook"], x, y, epochs)


GELU = {
    **POINTS["notebook"],
    "width": 100,
    "activation": "gelu",
    "optimizer": "adam",
    "batch_size": 1024,
    "l2": 1e-5,
}  # the kind of network the default study picks


def backend_loop(rows: int, epochs: int, point: str) -> float:
    """The trial loop's rows/s (whole epochs) of one network under this process's Keras backend
    (`KERAS_BACKEND`, set by the parent); JAX steps are XLA-compiled, TensorFlow's not
    (the study's setting; `--explore` measured XLA no faster there)."""
    import os

    import keras

    from study.data.dataset import open_dataset
    from study.data.prepare import generate_dataset
    from study.training import schedule

    if keras.backend.backend() == "jax" or os.environ.get("BENCH_JIT") == "1":
        schedule.JIT_COMPILE = True
    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(rows, Path(tmp) / "d", seed=0)
        dataset = open_dataset(Path(tmp) / "d")
        train, validation = dataset.train.to_numpy(), dataset.validation.to_numpy()
    values = POINTS["notebook"] if point == "notebook" else GELU
    # whole epochs, validation included: JAX dispatches asynchronously, so the time to the
    # validation pass undercounts its training steps (it measured 2 M rows/s, 14x the GEMM
    # limit); an epoch's end waits for its results (its logs are numbers)
    return trial_loop(values, train, validation, epochs)[1]


VARIANTS = {  # name: (KERAS_BACKEND, XLA-compiled steps)
    "tensorflow": ("tensorflow", False),  # the study's setting
    "tensorflow_xla": ("tensorflow", True),
    "jax": ("jax", True),
}


def compare_backends(rows: int, epochs: int, repeats: int) -> dict:
    """Trial-loop rows/s per backend and network, fresh processes, alternating."""
    import os

    runs: dict[str, list[float]] = {}
    for repeat in range(repeats):
        for point in ("notebook", "gelu"):
            for backend, (name, jit) in VARIANTS.items():
                command = [sys.executable, __file__, "--backend-child", point]
                command += ["--rows", str(rows), "--epochs", str(epochs)]
                env = {**os.environ, "KERAS_BACKEND": name, "BENCH_JIT": str(int(jit))}
                done = subprocess.run(command, capture_output=True, text=True, env=env)
                if done.returncode != 0:
                    raise SystemExit(f"{backend} run failed:\n{done.stderr[-2000:]}")
                rate = float(done.stdout.split()[-1])
                runs.setdefault(f"{point}_{backend}", []).append(rate)
                print(
                    f"repeat {repeat + 1} {point:8s} {backend:10s} {rate:10,.0f} rows/s", flush=True
                )
    out = {}
    for point in ("notebook", "gelu"):
        rates = {b: statistics.median(runs[f"{point}_{b}"]) for b in VARIANTS}
        for backend, rate in rates.items():
            out[f"backend_{point}_{backend}_rows_per_s"] = rate
            out[f"backend_{point}_{backend}_over_tensorflow"] = rate / rates["tensorflow"]
    print(json.dumps(runs), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=80_000, help="default-sample rows")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of phase 1 per measure")
    parser.add_argument("--explore", action="store_true")
    parser.add_argument("--quick", action="store_true", help="6,000 rows, 3 epochs, notebook")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--backends",
        type=int,
        default=0,
        metavar="N",
        help="compare Keras backends (TensorFlow, JAX), N alternating repeats",
    )
    parser.add_argument("--backend-child", help=argparse.SUPPRESS)
    parser.add_argument("--fit-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", default="0,0", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fit_only:
        print(fit_only(args.rows, args.epochs, args.threads))
        return
    if args.backend_child:
        print(backend_loop(args.rows, args.epochs, args.backend_child))
        return
    if args.backends:
        rows, epochs = (6_000, 3) if args.quick else (args.rows, args.epochs)
        emit(compare_backends(rows, epochs, args.backends), args.json)
        return
    rows, epochs = (6_000, 3) if args.quick else (args.rows, args.epochs)
    points = ["notebook"] if args.quick else list(POINTS)

    from study.data.dataset import open_dataset
    from study.data.prepare import generate_dataset
    from study.training.network import count_parameters

    gflops = gemm_gflops(1024 if args.quick else 2048)
    figures: dict = {"gemm_gflops": gflops}
    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(rows, Path(tmp) / "d", seed=0)
        dataset = open_dataset(Path(tmp) / "d")
        train, validation = dataset.train.to_numpy(), dataset.validation.to_numpy()
        n = train[0].shape[1]
        for name in points:
            values = POINTS[name]
            params = count_parameters(n, values["width"], values["n_blocks"])
            limit = gflops * 1e9 / (6 * params)
            shape_gflops = gemm_gflops_shape(values["batch_size"], values["width"], values["width"])
            fit = bare_fit(values, *train, epochs)
            loop, with_validation = trial_loop(values, train, validation, epochs)
            prefix = "" if name == "notebook" else f"{name}_"
            figures.update(
                {
                    f"{prefix}parameters": params,
                    f"{prefix}trial_rows_per_s": loop,
                    f"{prefix}trial_epoch_rows_per_s": with_validation,
                    f"{prefix}fit_rows_per_s": fit,
                    f"{prefix}gemm_limit_rows_per_s": limit,
                    f"{prefix}gemm_at_layer_shape_gflops": shape_gflops,
                    f"{prefix}gemm_layer_shape_limit_rows_per_s": shape_gflops * 1e9 / (6 * params),
                    f"{prefix}trial_over_fit": loop / fit,
                    f"{prefix}trial_over_gemm_limit": loop / limit,
                    f"{prefix}fit_over_gemm_limit": fit / limit,
                    f"{prefix}validation_share_of_epoch": 1 - with_validation / loop,
                }
            )
            print(
                f"{name}: trial {loop:,.0f} (with validation {with_validation:,.0f}), "
                f"fit {fit:,.0f}, limit {limit:,.0f}",
                flush=True,
            )
        if args.explore:
            figures.update(explore(POINTS["notebook"], *train, epochs))
    if args.explore:
        figures.update(explore_threads(rows, epochs))
    emit(figures, args.json)


if __name__ == "__main__":
    main()
