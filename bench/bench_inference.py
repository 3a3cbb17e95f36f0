"""What the exported model costs per particle: compiled C vs SavedModel vs Keras vs the GEMM limit.

    python bench/bench_inference.py [--export results/default/best/export] [--json PATH] [--quick]

For the notebook's network (12 -> 128, 10 tanh blocks, random non-zero weights behind
a preprocessing fitted on generated data) and, with `--export`, a study's exported
best, in one run:
- the compiled C (study/best/c_source.py, built here for the baseline CPU, x86-64-v2,
  and again for x86-64-v3 and this CPU, `native`), timed by a small C driver that loads
  the library with dlopen as Lamarr does: one particle a call, and batches of 1,000
  through the batch entry;
- the SavedModel through TensorFlow (the whole pipeline, raw features in): one
  particle a call, and batches of 1,000;
- the `.keras` model through Keras (`model(x)`, preprocessed features in: the
  network alone): one particle a call, and batches of 1,000;
- the limit: single-threaded float32 matrix products (numpy/BLAS, one thread) at the
  network's own layer shapes for a batch of 1,000 particles.
Each figure is the median of `--repeats` timings; ratios are formed in this run.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import emit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BATCH = 1_000
# built beside the baseline (x86-64-v2, armv8-a) and timed too
MARCHES = ("x86-64-v3", "native") if platform.machine() in ("x86_64", "AMD64") else ("native",)
DRIVER = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
typedef float *(*one_t)(float *, const float *);
typedef float *(*batch_t)(float *, const float *, int);
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
                          return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv)
{
    /* library name n_features rows_file n_rows calls */
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    char batch_name[256]; snprintf(batch_name, sizeof batch_name, "%s_batch", argv[2]);
    one_t one = (one_t)dlsym(lib, argv[2]);
    batch_t batch = (batch_t)dlsym(lib, batch_name);
    int f = atoi(argv[3]), n = atoi(argv[5]), calls = atoi(argv[6]);
    float *in = malloc(sizeof(float) * f * n), *out = malloc(sizeof(float) * n);
    FILE *fp = fopen(argv[4], "rb");
    if (fread(in, sizeof(float), (size_t)f * n, fp) != (size_t)f * n) return 2;
    fclose(fp);
    double sink = 0.0, t0 = now();
    for (int k = 0; k < calls; k++) { one(out, in + (size_t)(k % n) * f); sink += out[0]; }
    double single = (now() - t0) / calls;
    int rounds = calls / n > 2 ? calls / n : 2;
    t0 = now();
    for (int r = 0; r < rounds; r++) { batch(out, in, n); sink += out[n - 1]; }
    double per = (now() - t0) / ((double)rounds * n);
    printf("%.3f %.3f %g\n", single * 1e9, per * 1e9, sink);
    return 0;
}
"""


def median_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        function()
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def notebook_export(directory: Path, rows: int) -> tuple[Path, np.ndarray]:
    """The notebook's network with non-zero weights, exported (SavedModel, model.keras,
    preprocessing.json) into `directory`; raw rows to time on."""
    from study.best.export import write_saved_model
    from study.data import synthetic
    from study.data.preprocessing import Preprocessing
    from study.training.network import build_network

    frame = next(synthetic.generate(rows + 20_000, seed=5, chunk_size=rows + 20_000))
    features = [c for c in frame.columns if c.startswith("mc_")]
    flags = [c for c in features if c.startswith("mc_is") or c == "mc_charge"]
    pre = Preprocessing.fit(frame.iloc[:20_000], features, flags)
    model = build_network(len(features), 128, 10, "tanh", 1e-3)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.get_weights():
            k, b = layer.get_weights()
            layer.set_weights([rng.normal(0, 0.5 / np.sqrt(k.shape[0]), k.shape), 0.1 * b + 0.01])
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / "model.keras")
    pre.save(directory / "preprocessing.json")
    write_saved_model(model, pre, directory / "saved_model")
    return directory, frame[features].to_numpy(np.float32)[20_000:]


def measure(export: Path, raw: np.ndarray, work: Path, calls: int, repeats: int) -> dict:
    import keras
    import tensorflow as tf
    from threadpoolctl import threadpool_limits

    from study.best import c_export
    from study.data.preprocessing import Preprocessing

    model = keras.models.load_model(export / "model.keras")
    pre = Preprocessing.load(export / "preprocessing.json")
    c_dir = work / export.name
    c_dir.mkdir(parents=True, exist_ok=True)
    record = c_export.build(model, pre, c_dir)
    if not record["compiled"]:
        raise SystemExit("bench_inference: no C compiler")
    rows = raw[:BATCH]
    rows.tofile(work / "rows.f32")

    def driven(library: Path) -> list[str]:
        return subprocess.run(
            [str(work / "driver"), str(library), record["name"],
             str(raw.shape[1]), str(work / "rows.f32"), str(len(rows)), str(calls)],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip

    out = driven(c_dir / record["library"])
    figures = {"c_ns_per_particle": float(out[0]), "c_batch_ns_per_particle": float(out[1])}
    for march in MARCHES:  # the same source for newer CPUs, timed in this run
        other = c_export.build(model, pre, c_dir / march, march=march)
        out = driven(c_dir / march / other["library"])
        figures[f"c_{march}_ns_per_particle"] = float(out[0])
        figures[f"c_{march}_batch_ns_per_particle"] = float(out[1])
        figures[f"c_baseline_batch_vs_{march}"] = float(out[1]) / figures["c_batch_ns_per_particle"]
    library = c_export.CLibrary(c_dir)
    one = rows[:1].copy()
    figures["c_ctypes_ns_per_particle"] = (
        median_time(lambda: [library.predict_one(one[0]) for _ in range(200)], repeats) / 200 * 1e9
    )
    loaded = tf.saved_model.load(str(export / "saved_model"))
    single_tf, batch_tf = tf.constant(rows[:1]), tf.constant(rows)
    loaded.serve(single_tf), loaded.serve(batch_tf)  # traced before timing
    figures["savedmodel_ns_per_particle_single"] = (
        median_time(lambda: [loaded.serve(single_tf) for _ in range(50)], repeats) / 50 * 1e9
    )
    figures["savedmodel_batch_ns_per_particle"] = (
        median_time(lambda: loaded.serve(batch_tf), repeats) / len(rows) * 1e9
    )
    frame = pd.DataFrame(rows.astype(np.float64), columns=pre.features)
    x = pre.transform(frame)[pre.features].to_numpy(np.float32)
    x1, xb = x[:1], x
    model(x1), model(xb)
    figures["keras_ns_per_particle_single"] = (
        median_time(lambda: [model(x1) for _ in range(50)], repeats) / 50 * 1e9
    )
    figures["keras_batch_ns_per_particle"] = median_time(lambda: model(xb), repeats) / BATCH * 1e9
    kernels = [w for w in model.get_weights() if w.ndim == 2]
    inputs = [np.random.default_rng(1).normal(size=(BATCH, k.shape[0])).astype(np.float32)
              for k in kernels]  # fmt: skip
    with threadpool_limits(1):
        for a, k in zip(inputs, kernels, strict=True):
            a @ k
        gemm = median_time(lambda: [a @ k for a, k in zip(inputs, kernels, strict=True)], repeats)
    figures["gemm_limit_ns_per_particle"] = gemm / BATCH * 1e9
    figures["flops_per_particle"] = c_export.flops_per_particle(model)
    figures["c_batch_gflops"] = figures["flops_per_particle"] / figures["c_batch_ns_per_particle"]
    figures["gemm_gflops"] = figures["flops_per_particle"] / figures["gemm_limit_ns_per_particle"]
    figures["c_batch_vs_gemm_limit"] = (
        figures["gemm_limit_ns_per_particle"] / figures["c_batch_ns_per_particle"]
    )
    figures["c_single_speedup_vs_savedmodel"] = (
        figures["savedmodel_ns_per_particle_single"] / figures["c_ns_per_particle"]
    )
    print(f"C compiled with: {record['compiler']} {record['flags']}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, help="a study's best/export (also measured)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="few calls and repeats (~1 min)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    calls, repeats = (2_000, 3) if args.quick else (50_000, args.repeats)
    start = time.perf_counter()
    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "driver.c").write_text(DRIVER)
        subprocess.run(
            ["cc", "-O2", "-o", str(work / "driver"), str(work / "driver.c"), "-ldl"], check=True
        )
        export, raw = notebook_export(work / "notebook", 5_000 if args.quick else 20_000)
        for key, value in measure(export, raw, work, calls, repeats).items():
            figures[f"notebook_{key}"] = value
        if args.export:
            from study.data import synthetic
            from study.data.preprocessing import Preprocessing

            features = Preprocessing.load(args.export / "preprocessing.json").features
            raw = next(synthetic.generate(2_000, seed=6))[features].to_numpy(np.float32)
            for key, value in measure(args.export, raw, work, calls, repeats).items():
                figures[f"best_{key}"] = value
    # the headline keys: the notebook's network
    for key in ("c_ns_per_particle", "c_batch_ns_per_particle",
                "savedmodel_ns_per_particle_single", "c_batch_vs_gemm_limit"):  # fmt: skip
        figures[key] = figures[f"notebook_{key}"]
    figures["wall_seconds"] = time.perf_counter() - start
    emit(figures, args.json)


if __name__ == "__main__":
    main()
