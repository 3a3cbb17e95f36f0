"""Prepared datasets: train/validation/test split directories plus preprocessing.json.

`open_dataset` checks a prepared dataset before any work; study/data/prepare.py
writes them (the embedded sample, a user's raw data).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from study.data import synthetic
from study.data.checks import (
    DataError,
)
from study.data.feather import FeatherReader
from study.data.preprocessing import Preprocessing
from study.store.atomic import restore_swapped

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
FRACTIONS = (0.5, 0.1, 0.4)
FIT_ROWS = 1_000_000


@dataclass
class PreparedDataset:
    """The three split readers and the preprocessing of a prepared dataset directory."""

    path: Path
    train: FeatherReader
    validation: FeatherReader
    test: FeatherReader
    preprocessing: Preprocessing

    @property
    def features(self) -> list[str]:
        return self.train.features

    def statistics(self) -> dict:
        """Rows per split, label mean of each split, Bayes cross-entropy where the truth is kept."""
        stats: dict = {"features": len(self.features)}
        for split in SPLITS:
            reader = getattr(self, split)
            stats[f"{split}_rows"] = reader.num_rows
            stats[f"{split}_label_mean"] = float(reader.to_numpy()[1][:, 0].mean())
        if synthetic.TRUTH in self.test.extras:
            truth = self.test.to_pandas([synthetic.TRUTH])[synthetic.TRUTH]
            stats["test_bayes_cross_entropy"] = synthetic.bayes_cross_entropy(truth)
        return stats

    def fingerprint(self) -> str:
        """sha256 over preprocessing.json and every split's definitions and files."""
        digest = hashlib.sha256()
        paths = [self.path / "preprocessing.json"]
        for reader in (self.train, self.validation, self.test):
            paths += [reader.split_dir / "definitions.json", *reader.files]
        for path in paths:
            digest.update(str(path.relative_to(self.path)).encode())
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 22), b""):
                    digest.update(block)
        return digest.hexdigest()


def replaced(path: Path) -> Path:
    """Where `prepare --overwrite` sets the dataset it replaces until the new one is in."""
    return path.with_name(f".{path.name}.old")


def open_dataset(path: Path, check_values: bool = True) -> PreparedDataset:
    """Open and check a prepared dataset; every problem raises one DataError line."""
    path = Path(path)
    restore_swapped(path, replaced(path))  # a replace killed between its two renames
    if not path.is_dir():
        raise DataError(f"{path}: no such dataset directory")
    readers = {}
    for split in SPLITS:
        if not (path / split).is_dir():
            raise DataError(
                f"{path / split}: missing split directory (expected {', '.join(SPLITS)})"
            )
        readers[split] = FeatherReader(path / split)
    for split in SPLITS[1:]:
        for key in ("features", "labels"):
            a, b = getattr(readers["train"], key), getattr(readers[split], key)
            if a != b:
                raise DataError(
                    f"{path / split / 'definitions.json'}: {key} differ from the train split's "
                    f"({b} vs {a})"
                )
    pre = Preprocessing.load(path / "preprocessing.json")
    if pre.features != readers["train"].features:
        raise DataError(
            f"{path / 'preprocessing.json'}: features {pre.features} do not match the "
            f"dataset's {readers['train'].features}"
        )
    if check_values:
        for reader in readers.values():
            reader.check_values()
    return PreparedDataset(path, preprocessing=pre, **readers)
