"""What `--overwrite` may delete: a study, or a prepared dataset that `prepare` replaces.

A study is a folder holding `study.json`; a prepared dataset one holding
`preprocessing.json` and the split folders (`train/`, `validation/`, `test/`, each with
its `definitions.json`); a folder holding either of those looks like data and is never
deleted as a study. `study
--overwrite` removes a study's contents only when the folder is a study and is
neither the data root (`<results>/data/`), nor a prepared dataset, nor holds one
(the study's own data included); `prepare --overwrite` and `generate --overwrite`
replace only a prepared dataset. Anything else is refused with a `UserError` (exit
2) before a file is touched: a mistyped `--study data` must never cost a user the
datasets in that folder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from study.errors import ConfigError, DataError
from study.store.atomic import remove_tree
from study.store.lock import NAME as LOCK_NAME

log = logging.getLogger(__name__)

STUDY_FILE = "study.json"
PREPROCESSING = "preprocessing.json"
SPLITS = ("train", "validation", "test")
DATA_ROOT = "data"  # <results>/data/: the generated default datasets


def is_study(path: Path) -> bool:
    return (Path(path) / STUDY_FILE).is_file()


def looks_like_data(path: Path) -> bool:
    """`path` has preprocessing.json or a split folder at its top: never deleted as a
    study (the loose rule, to refuse)."""
    path = Path(path)
    return (path / PREPROCESSING).is_file() or any((path / s).is_dir() for s in SPLITS)


def is_prepared_dataset(path: Path) -> bool:
    """`path` is a whole prepared dataset: preprocessing.json and the three split folders,
    each with its definitions.json (the strict rule, to replace one)."""
    path = Path(path)
    return (path / PREPROCESSING).is_file() and all(
        (path / s / "definitions.json").is_file() for s in SPLITS
    )


def _held_dataset(root: Path) -> Path | None:
    """A prepared dataset below `root` (preprocessing.json beside train/; an export's lone
    preprocessing.json or TensorBoard's train/ logs are not one), or None."""
    for folder, dirs, files in os.walk(root):
        if PREPROCESSING in files and "train" in dirs:
            return Path(folder)
    return None


def _is_within(path: Path, root: Path) -> bool:
    return path.resolve() == root.resolve() or path.resolve().is_relative_to(root.resolve())


def check_study_removable(study_dir: Path, results: Path, data_dir: Path) -> None:
    """Refuse (ConfigError) `--overwrite` of a folder that is not a study, or that is or
    holds data; an absent or empty folder passes (nothing to delete)."""
    study_dir = Path(study_dir)
    if not study_dir.is_dir() or not _contents(study_dir):
        return
    refuse = f"{study_dir}: --overwrite deletes only a study, and this folder"
    if _is_within(Path(results) / DATA_ROOT, study_dir):
        raise ConfigError(f"{refuse} is the data root of {results}; nothing deleted")
    if _is_within(Path(data_dir), study_dir):
        raise ConfigError(f"{refuse} holds the study's data {data_dir}; nothing deleted")
    if looks_like_data(study_dir):
        raise ConfigError(f"{refuse} is a prepared dataset; nothing deleted")
    if not is_study(study_dir):
        raise ConfigError(
            f"{refuse} is not one (no {STUDY_FILE}); nothing deleted; use another --study"
        )
    held = _held_dataset(study_dir)
    if held is not None:
        raise ConfigError(f"{refuse} holds a prepared dataset ({held}); nothing deleted")


def _contents(study_dir: Path, keep: tuple[str, ...] = (LOCK_NAME,)) -> list[Path]:
    return [e for e in study_dir.iterdir() if e.name not in keep]


def remove_study_contents(study_dir: Path, results: Path, data_dir: Path, keep: str) -> None:
    """Check `study_dir` (`check_study_removable`), then delete its contents but `keep`
    (the lock this process holds); a removal that fails is a StateError naming the path,
    the entries before it gone."""
    check_study_removable(study_dir, results, data_dir)
    if not study_dir.is_dir():
        return
    log.info("--overwrite: removing the contents of %s", study_dir)
    for entry in _contents(study_dir, (keep,)):
        remove_tree(entry)  # a link unlinked, never followed; a failure a StateError


def check_dataset_replaceable(output: Path) -> None:
    """Refuse (DataError) to replace `output` unless it is a prepared dataset or an empty
    folder."""
    output = Path(output)
    if not output.exists() and not output.is_symlink():
        return
    if output.is_dir() and not output.is_symlink():
        if is_prepared_dataset(output) and not is_study(output):
            return
        if not any(output.iterdir()):
            return
    raise DataError(
        f"{output}: --overwrite replaces only a prepared dataset (preprocessing.json, "
        f"{'/, '.join(SPLITS)}/), and this is not one; nothing deleted; use another --output"
    )
