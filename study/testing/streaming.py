"""Shuffled batches of a split, streamed file by file (memory bounded by a few files),
and a `tf.data` adapter on top: what the tests and bench/bench_reader.py read; the
study itself trains on whole arrays (FeatherReader.to_numpy and sample)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow.feather as pf

from study.data.feather import columns_to_numpy


def _buffers(reader, rng, files_in_buffer: int, carry: tuple[np.ndarray, np.ndarray]):
    """Groups of files read into one (features, labels) pair, after the carried rows."""
    order = list(
        rng.permutation(len(reader.files)) if rng is not None else range(len(reader.files))
    )
    for start in range(0, len(order), files_in_buffer):
        paths = [reader.files[i] for i in order[start : start + files_in_buffer]]
        tables = [
            pf.read_table(p, columns=reader.features + reader.labels, memory_map=True)
            for p in paths
        ]
        n = len(carry[0]) + sum(t.num_rows for t in tables)
        x = np.empty((n, len(reader.features)), np.float32)
        y = np.empty((n, len(reader.labels)), np.float32)
        x[: len(carry[0])], y[: len(carry[0])] = carry
        row = len(carry[0])
        for table in tables:
            columns_to_numpy(table, reader.features, x[row : row + table.num_rows])
            columns_to_numpy(table, reader.labels, y[row : row + table.num_rows])
            row += table.num_rows
        carry = yield x, y


def iter_batches(
    reader,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
    files_in_buffer: int = 2,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (features, labels) float32 batches of `batch_size` rows (the last may be short).

    With `shuffle`, the file order and the rows of each buffer of
    `files_in_buffer` files (plus the previous buffer's remainder) are
    permuted by a generator seeded with (seed, epoch): reproducible, and
    different every epoch. Batches are C-contiguous, so tensors are made
    without further copies.
    """
    rng = np.random.default_rng([seed, epoch]) if shuffle else None
    carry = (
        np.empty((0, len(reader.features)), np.float32),
        np.empty((0, len(reader.labels)), np.float32),
    )
    buffers = _buffers(reader, rng, files_in_buffer, carry)
    x, y = next(buffers)
    while True:
        if rng is not None:
            order = rng.permutation(len(x))
            x, y = np.take(x, order, axis=0), np.take(y, order, axis=0)
        n_full = len(x) // batch_size * batch_size
        for start in range(0, n_full, batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]
        try:
            x, y = buffers.send((x[n_full:], y[n_full:]))
        except StopIteration:
            break
    if n_full < len(x):
        yield x[n_full:], y[n_full:]


def as_tf_dataset(reader, batch_size: int, shuffle: bool = True, seed: int = 0):
    """A `tf.data.Dataset` of (features, labels) batches; each pass is a new epoch's shuffle."""
    import tensorflow as tf

    epochs = iter(range(1 << 62))

    def generator():
        yield from iter_batches(reader, batch_size, shuffle, seed, next(epochs))

    signature = (
        tf.TensorSpec([None, len(reader.features)], tf.float32),
        tf.TensorSpec([None, len(reader.labels)], tf.float32),
    )
    return tf.data.Dataset.from_generator(generator, output_signature=signature).prefetch(2)
