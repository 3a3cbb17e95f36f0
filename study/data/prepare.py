"""Writing prepared datasets: the embedded sample (`generate_dataset`), a user's raw
feather, parquet or ROOT data (`prepare_dataset`), and a study's default data (`load_dataset`).

Both writers split rows 50/10/40 % at random (seeded), fit the preprocessing on the
training rows only, and write into a temporary directory renamed into place at the
end, so a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from study.config import StudyConfig
from study.data import synthetic
from study.data.checks import DataError, check_values
from study.data.dataset import (
    FIT_ROWS,
    FRACTIONS,
    SPLITS,
    PreparedDataset,
    open_dataset,
    replaced,
)
from study.data.feather import FeatherReader, write_split
from study.data.preprocessing import Preprocessing
from study.data.raw import RawInput, infer_flags, value_site
from study.store.atomic import restore_swapped, swap_directory
from study.store.overwrite import check_dataset_replaceable, is_prepared_dataset

log = logging.getLogger(__name__)
BINNING_FILE = "validation_bins.json"  # a generated dataset's kinematic binning (--validation-bins)


def _assign_splits(seed: int, index: int, n: int) -> np.ndarray:
    """Split index (0 train, 1 validation, 2 test) of each of `n` rows of chunk `index`."""
    rng = np.random.default_rng([seed, 101, index])
    return np.searchsorted(np.cumsum(FRACTIONS), rng.random(n), side="right").clip(0, 2)


class _Writer:
    """Appends preprocessed chunks to the three split directories of `root`.

    Rows are buffered per split and written as files of exactly `rows_per_file`
    rows (the last file of a split may be shorter).
    """

    def __init__(
        self,
        root: Path,
        definitions: dict,
        preprocessing: Preprocessing,
        seed: int,
        rows_per_file: int,
    ):
        self.root, self.definitions, self.preprocessing = root, definitions, preprocessing
        self.seed, self.rows_per_file = seed, rows_per_file
        self.pending = {split: [] for split in SPLITS}
        self.files = {split: 0 for split in SPLITS}

    def write(self, index: int, chunk: pd.DataFrame) -> None:
        assignment = _assign_splits(self.seed, index, len(chunk))
        transformed = self.preprocessing.transform(chunk)
        for k, split in enumerate(SPLITS):
            self.pending[split].append(transformed[assignment == k])
            self._flush(split, final=False)

    def close(self) -> None:
        for split in SPLITS:
            self._flush(split, final=True)

    def _flush(self, split: str, final: bool) -> None:
        frame = pd.concat(self.pending[split], ignore_index=True)
        n_write = len(frame) if final else len(frame) // self.rows_per_file * self.rows_per_file
        if n_write:
            written = write_split(
                frame.iloc[:n_write],
                self.root / split,
                self.definitions,
                self.rows_per_file,
                self.files[split],
            )
            self.files[split] += len(written)
        self.pending[split] = [frame.iloc[n_write:]]


def _summary(root: Path) -> dict:
    stats = {"output": str(root)}
    for split in SPLITS:
        stats[f"{split}_rows"] = FeatherReader(root / split).num_rows
    stats["rows"] = sum(stats[f"{s}_rows"] for s in SPLITS)
    return stats


def _check_output(output: Path, overwrite: bool) -> None:
    """Refuse an existing `output` without `overwrite`, or one that is not a prepared
    dataset with it (study/store/overwrite.py)."""
    if output.exists() and not overwrite:
        if is_prepared_dataset(output):
            raise DataError(f"{output}: already exists (use --overwrite to replace it)")
        raise DataError(
            f"{output}: already exists and is not a prepared dataset; nothing was changed "
            "in it; use another --output"
        )
    if overwrite:
        check_dataset_replaceable(output)


def _publish(tmp: Path, output: Path, overwrite: bool) -> None:
    """Rename the finished temporary directory onto `output`."""
    _check_output(output, overwrite)  # again: it may have appeared while we wrote
    swap_directory(tmp, output, replaced(output))


def _staging(output: Path, overwrite: bool) -> Path:
    output = Path(output)
    restore_swapped(output, replaced(output))  # a kill between the two renames of a replace
    _check_output(output, overwrite)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    return tmp


def _write_all(chunks: Iterable[pd.DataFrame], writer: _Writer, total: int, verb: str) -> None:
    start, done = time.perf_counter(), 0
    for index, chunk in enumerate(chunks):
        writer.write(index, chunk)
        done += len(chunk)
        rate = done / max(time.perf_counter() - start, 1e-9)
        log.info("%s: %d / %d rows (%.0f rows/s)", verb, done, total, rate)
    writer.close()


def generate_dataset(
    n_rows: int,
    output: Path,
    seed: int = 0,
    overwrite: bool = False,
    chunk_size: int = 500_000,
    rows_per_file: int = 250_000,
    profile: str = "default",
) -> dict:
    """Write a generated sample (the embedded one, or a profile of study/data/zoo.py) as a
    prepared dataset with its kinematic binning (BINNING_FILE); returns its statistics."""
    from study.data import zoo

    output, chosen = Path(output), zoo.PROFILES[profile]
    tmp = _staging(output, overwrite)
    try:
        chunks = zoo.generate(chosen, n_rows, seed, chunk_size)
        first = next(chunks)
        train = first[_assign_splits(seed, 0, len(first)) == 0]
        pre = Preprocessing.fit(train, chosen.features, chosen.flags)
        labels, extras = [synthetic.LABEL], [synthetic.TRUTH]
        definitions = {"features": chosen.features, "labels": labels, "extras": extras}
        writer = _Writer(tmp, definitions, pre, seed, rows_per_file)
        label_sum, entropy_sum = [0.0], [0.0]

        def counted(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            for frame in frames:
                label_sum[0] += float(frame[synthetic.LABEL].sum())
                entropy_sum[0] += synthetic.bayes_cross_entropy(frame[synthetic.TRUTH]) * len(frame)
                yield frame

        _write_all(counted(_chain(first, chunks)), writer, n_rows, "generate")
        pre.save(tmp / "preprocessing.json")
        (tmp / BINNING_FILE).write_text(json.dumps(chosen.binning, indent=1))
        stats = _summary(tmp)
        _publish(tmp, output, overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stats.update(output=str(output), profile=profile, accepted_fraction=label_sum[0] / n_rows)
    stats.update(bayes_cross_entropy=entropy_sum[0] / n_rows)
    return stats


def _chain(first: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    yield first
    yield from _prefetched(rest)


def _prefetched(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Produce the next frame in a background thread while the caller works on this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(next, frames, None)
        while (frame := future.result()) is not None:
            future = pool.submit(next, frames, None)
            yield frame


def _checked_fit_sample(raw: RawInput, seed: int):
    """First pass: every value checked; the training rows the quantiles are fitted on
    (at most FIT_ROWS, drawn from each file in proportion)."""
    sample, labels = [], raw.definitions["labels"]
    for index, path in enumerate(raw.files):
        frame = raw.read(path)
        where, noun = value_site(path, raw.tree)
        for column in raw.definitions["features"] + labels:
            values = frame[column].to_numpy()
            check_values(where, column, values, column in labels, noun=noun)
        train = frame[_assign_splits(seed, index, len(frame)) == 0]
        keep = int(np.ceil(FIT_ROWS * len(frame) / raw.rows))
        sample.append(train.sample(n=min(keep, len(train)), random_state=seed))
    return pd.concat(sample, ignore_index=True)


def prepare_dataset(
    input_path: Path,
    output: Path,
    label: str = "acceptance",
    flags: list[str] | None = None,
    extras: list[str] | None = None,
    seed: int = 0,
    overwrite: bool = False,
    rows_per_file: int = 250_000,
    features: list[str] | None = None,
    tree: str | None = None,
) -> dict:
    """Split, preprocess and write the user's raw data; returns its statistics.

    The input (study/data/raw.py) is feather, parquet or ROOT (the TTree `tree`) files;
    `features` None reads every numeric column (branch), else those and the label, flag
    and extra columns alone. Two passes over the input files: the first checks every value
    and draws the training rows the quantiles are fitted on, the second transforms and
    writes, so memory is bounded by one input file plus the fitting sample.
    """
    input_path, output = Path(input_path), Path(output)
    raw = RawInput(input_path, label, extras or [], features, flags, tree)
    files, read, definitions, total = raw.files, raw.read, raw.definitions, raw.rows
    fit_frame = _checked_fit_sample(raw, seed)
    if flags is None:
        flags = infer_flags(fit_frame, definitions["features"])
    pre = Preprocessing.fit(fit_frame, definitions["features"], flags)

    tmp = _staging(output, overwrite)
    try:
        writer = _Writer(tmp, definitions, pre, seed, rows_per_file)
        _write_all(_prefetched(read(p) for p in files), writer, total, "prepare")
        pre.save(tmp / "preprocessing.json")
        for split in SPLITS:
            if not (tmp / split).is_dir():
                raise DataError(f"{input_path}: too few rows ({total}) to fill the {split} split")
        stats = _summary(tmp)
        _publish(tmp, output, overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    labels = np.concatenate([FeatherReader(output / s).to_numpy()[1][:, 0] for s in SPLITS])
    stats.update(
        output=str(output),
        input=raw.about,
        flags=flags,
        features=definitions["features"],
        accepted_fraction=float(labels.mean()),
    )
    return stats


def default_dataset(config: StudyConfig) -> PreparedDataset:
    """The embedded sample under <results>/data/default, generated on first use."""
    path = config.data_dir
    if not path.exists():
        log.info(
            "generating the default data (%d rows) into %s; it is reused afterwards",
            config.default_rows,
            path,
        )
        stats = generate_dataset(config.default_rows, path, seed=config.seed)
        log.info(
            "default data: %d rows, accepted fraction %.3f, Bayes cross-entropy %.4f nats",
            stats["rows"],
            stats["accepted_fraction"],
            stats["bayes_cross_entropy"],
        )
    return open_dataset(path)


def load_dataset(config: StudyConfig) -> PreparedDataset:
    return open_dataset(config.data_dir) if config.data else default_dataset(config)
