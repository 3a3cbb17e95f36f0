"""A study's record, study.json, and the decision to start, resume or refuse.

`results/<study>/study.json` holds the resolved StudyConfig, the search space and
the fingerprint of the data. Running the same command again resumes; a different
data fingerprint, search space or training setting stops with a clear message
before anything is written.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from study.config import StudyConfig
from study.errors import ConfigError, DataError
from study.space import space_to_dict
from study.store.atomic import restore_swapped, write_json_atomic
from study.store.lock import NAME as LOCK_NAME
from study.store.overwrite import check_study_removable, remove_study_contents
from study.store.records import read_json

log = logging.getLogger(__name__)


def check_writable(path: Path) -> None:
    """Refuse (ConfigError) a results path that cannot be written, before writing anything.

    The nearest existing ancestor must be a directory in which a file can be created
    (probed with a temporary file, removed at once: permission bits do not tell for
    root, read-only mounts or quotas).
    """
    path = Path(path).absolute()
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{path}: cannot be created ({existing} is not a directory)")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".write-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ConfigError(f"{path}: not writable ({err.strerror} in {existing})") from None


def study_record(config: StudyConfig, fingerprint: str) -> dict:
    return {
        "config": config.to_dict(),
        "search_space": space_to_dict(config.search_space()),
        "data_fingerprint": fingerprint,
    }


FILE = "study.json"


def read_record(study_dir: Path) -> dict:
    """study.json of `study_dir`: {"config", "search_space", "data_fingerprint"}; a
    ConfigError says what is missing or unreadable."""
    path = Path(study_dir) / FILE
    if not path.is_file():
        raise ConfigError(f"{study_dir}: no such study (no {FILE})")
    try:
        record = read_json(path)
        StudyConfig.from_dict(record["config"], str(path))
        record["search_space"], record["data_fingerprint"]  # noqa: B018  (must be there)
    except (ValueError, KeyError, TypeError, DataError) as err:
        raise ConfigError(f"{path}: unreadable study record ({err!r})") from None
    return record


def read_config(study_dir: Path) -> StudyConfig:
    """The StudyConfig a study ran with, its results root and name set to where it lies
    now (never the record's: a study.json naming another study must not lead there)."""
    config = StudyConfig.from_dict(read_record(study_dir)["config"])
    config.results, config.study = str(Path(study_dir).parent), Path(study_dir).name
    return config


SWAPPED = ("best/export", "best/checkpoint")  # directories replaced whole (swap_directory)


def restore_study(study_dir: Path) -> None:
    """Put back a swapped directory of the study that a kill left as only `<name>.old`."""
    for name in SWAPPED:
        restore_swapped(Path(study_dir) / name)


def check_start(config: StudyConfig, overwrite: bool) -> None:
    """Before any work: refuse a study folder that is not a study (or, with `overwrite`,
    one `--overwrite` may not delete); `check_or_create` checks again under the lock."""
    study_dir = config.study_dir
    if overwrite:
        check_study_removable(study_dir, Path(config.results), config.data_dir)
    elif study_dir.is_dir() and not (study_dir / FILE).exists():
        if any(e.name != LOCK_NAME for e in study_dir.iterdir()):
            raise ConfigError(_not_a_study(study_dir))


def _not_a_study(study_dir: Path) -> str:
    return (
        f"{study_dir}: exists and is not a study (no {FILE}); nothing was changed in it; "
        "use another --study or --results"
    )


def check_or_create(config: StudyConfig, dataset, overwrite: bool) -> bool:
    """Write study.json for a new study, or check an existing one; True if resuming."""
    study_dir = config.study_dir
    path = study_dir / FILE
    record = study_record(config, dataset.fingerprint())
    if overwrite:  # only a study, never data (study/store/overwrite.py)
        remove_study_contents(study_dir, Path(config.results), config.data_dir, LOCK_NAME)
    if not path.exists():
        if study_dir.exists() and any(e.name != LOCK_NAME for e in study_dir.iterdir()):
            raise ConfigError(_not_a_study(study_dir))
        write_json_atomic(path, record)
        return False
    restore_study(study_dir)  # before anything reads best/: a swap cut between its renames
    old = read_record(study_dir)
    old_config = StudyConfig.from_dict(old["config"], str(path))
    hint = "use a new --study or --overwrite"
    if old["data_fingerprint"] != record["data_fingerprint"]:
        raise ConfigError(
            f"{path}: the data differ from this study's data ({config.data_dir}); {hint}"
        )
    if old["search_space"] != record["search_space"]:
        changed = sorted(
            k
            for k in set(old["search_space"]) | set(record["search_space"])
            if old["search_space"].get(k) != record["search_space"].get(k)
        )
        raise ConfigError(
            f"{path}: the search space differs from this study's "
            f"(hyperparameters {', '.join(changed)}); {hint}"
        )
    differences = config.differences(old_config)
    if differences:
        first = differences[0]
        raise ConfigError(
            f"{path}: {first} is {getattr(config, first)!r} but this study ran with "
            f"{getattr(old_config, first)!r}; {hint}"
        )
    if old_config.trials != config.trials:
        write_json_atomic(path, record)
    return True
