"""Reader throughput: the streaming reader vs a plain pyarrow loop vs the notebook's reader.

All three read the same training split (at least 2M rows in several files) in one run:

- limit:    pyarrow.feather.read_table + numpy conversion of every file (no batching, no shuffle);
- ours:     study.testing.streaming.as_tf_dataset(batch_size=100k), one full pass, shuffled (the
            training setting: a row permutation across file pairs) and unshuffled;
- notebook: tf.data.Dataset.from_generator over pd.read_feather per file,
            then .unbatch().batch(100000), as in the original training notebook.

    python bench/bench_reader.py [--rows 4000000] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.feather as pf
from common import emit

from study.data.feather import FeatherReader
from study.data.prepare import generate_dataset
from study.testing import streaming

BATCH = 100_000


def time_rows(fn) -> float:
    start = time.perf_counter()
    rows = fn()
    return rows / (time.perf_counter() - start)


def limit_loop(reader: FeatherReader) -> int:
    rows = 0
    columns = reader.features + reader.labels
    for path in reader.files:
        table = pf.read_table(path, columns=columns, memory_map=True)
        data = np.stack([table.column(c).to_numpy() for c in columns], axis=1)
        rows += len(data)
    return rows


def ours(reader: FeatherReader, shuffle: bool = True) -> int:
    rows = 0
    for x, _ in streaming.as_tf_dataset(reader, BATCH, shuffle=shuffle, seed=1):
        rows += int(x.shape[0])
    return rows


def notebook(reader: FeatherReader) -> int:
    import tensorflow as tf

    features, labels = reader.features, reader.labels

    def gen():
        for path in reader.files:
            df = pd.read_feather(path)
            yield df[features].values, df[labels].values

    ds = (
        tf.data.Dataset.from_generator(
            gen,
            output_signature=(
                tf.TensorSpec([None, len(features)], tf.float32),
                tf.TensorSpec([None, len(labels)], tf.float32),
            ),
        )
        .unbatch()
        .batch(BATCH)
    )
    rows = 0
    for x, _ in ds:
        rows += int(x.shape[0])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000, help="generated rows (train = half)")
    parser.add_argument("--quick", action="store_true", help="seconds-long self-check")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    rows = 200_000 if args.quick else args.rows
    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(rows, Path(tmp) / "d", seed=3, rows_per_file=max(rows // 16, 1000))
        reader = FeatherReader(Path(tmp) / "d" / "train")
        ours(reader)  # warm the page cache and TensorFlow
        figures = {
            "rows": reader.num_rows,
            "files": len(reader.files),
            "limit_rows_per_s": time_rows(lambda: limit_loop(reader)),
            "ours_rows_per_s": time_rows(lambda: ours(reader)),
            "ours_unshuffled_rows_per_s": time_rows(lambda: ours(reader, shuffle=False)),
            "notebook_rows_per_s": time_rows(lambda: notebook(reader)),
        }
    figures["ours_over_notebook"] = figures["ours_rows_per_s"] / figures["notebook_rows_per_s"]
    figures["ours_over_limit"] = figures["ours_rows_per_s"] / figures["limit_rows_per_s"]
    figures["unshuffled_over_limit"] = (
        figures["ours_unshuffled_rows_per_s"] / figures["limit_rows_per_s"]
    )
    emit(figures, args.json)


if __name__ == "__main__":
    main()
