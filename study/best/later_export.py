"""`run_study.py export --study NAME`: finish or complete a study's export without training.

- An export that did not land (a kill, a crash during the export) is written whole from
  `best/final/`, the final fit's model and card (study/best/pipeline.py): SavedModel, C,
  card, every check (`finish`).
- An export written where TensorFlow was missing (a JAX-only GPU image) gets its
  SavedModel, checked against its model.keras, and an export whose C failed its check or
  was built for another CPU gets its C again, for `--c-march` (`write_later`).

The regular files of the export are copied aside (a link is refused, never followed), the
new parts written into the copy and checked, and the copy swapped into place: a failed or
killed run leaves the export as it was. The data must be the study's (its fingerprint
is the card's).
"""

from __future__ import annotations

import datetime
import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

from study.best.card import ModelCard
from study.best.pipeline import FINAL, check_raw_rows, export_final
from study.errors import ConfigError, DataError
from study.store.atomic import restore_swapped, swap_directory

log = logging.getLogger(__name__)
NEEDED = ("model.keras", "preprocessing.json", "model_card.json")


def pending(study_dir: Path) -> bool:
    """True where the study's export did not land and best/final/ can finish it."""
    best = Path(study_dir) / "best"
    restore_swapped(best / "export")
    complete = all((best / "export" / n).is_file() for n in NEEDED)
    return not complete and (best / FINAL / "model.keras").is_file()


def finish(config, dataset) -> ModelCard:
    """Write the export of `best/final/` (the final fit's model and card); the card."""
    import keras

    final = config.study_dir / "best" / FINAL
    card = _read_card(_regular(final / "card.json"))
    _same_data(card, dataset, final / "card.json")
    model = keras.models.load_model(_regular(final / "model.keras"), safe_mode=True)
    export_final(config, dataset, model, card)
    return _read_card(config.study_dir / "best" / "export" / "model_card.json")


def write_later(study_dir: Path, dataset, c_march: str = "baseline") -> ModelCard:
    """Write and check the SavedModel of `study_dir`'s export (where TensorFlow is here)
    and build its C again for `c_march`, checked on `dataset`'s test rows (the study's
    data); the updated model card. A C that fails its check: the export lands with it set
    aside, then CCheckFailed."""
    from study.backend import has_tensorflow
    from study.best.export import (
        CHECK_ROWS,
        build_c,
        check_export,
        fresh_directory,
        versions,
        write_saved_model,
    )

    directory = Path(study_dir) / "best" / "export"
    restore_swapped(directory)
    for name in NEEDED:
        if not (directory / name).is_file():
            raise ConfigError(f"{directory / name}: missing (has the study exported a model?)")
    card = _read_card(_regular(directory / "model_card.json"))
    _same_data(card, dataset, directory / "model_card.json")
    c_name = _c_name(card, directory)
    import keras

    from study.data.preprocessing import Preprocessing

    tmp = fresh_directory(directory.with_name(directory.name + ".tmp"))
    for name in NEEDED:
        shutil.copyfile(_regular(directory / name), tmp / name, follow_symlinks=False)
    model = keras.models.load_model(tmp / "model.keras", safe_mode=True)
    pre = Preprocessing.load(tmp / "preprocessing.json")
    raw = check_raw_rows(dataset)
    if has_tensorflow():
        write_saved_model(model, pre, tmp / "saved_model")
        card = replace(card, export_check=check_export(tmp, raw[:CHECK_ROWS]))
    failed = None
    if c_name is not None:
        c_record, failed = build_c(model, pre, tmp, raw, c_name, c_march)
        card = replace(card, c=c_record)
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    card = replace(card, versions=versions(), saved_model_date=now)
    (tmp / "model_card.json").write_text(json.dumps(card.to_dict(), indent=2) + "\n")
    swap_directory(tmp, directory)
    if failed is not None:
        raise failed
    return card


def _regular(path: Path) -> Path:
    """`path`, refused unless it is a regular file (a link is someone else's file)."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        raise DataError(f"{path}: expected a regular file, found a link or no file")
    return path


def _same_data(card: ModelCard, dataset, path: Path) -> None:
    if card.data_fingerprint not in (None, dataset.fingerprint()):
        raise ConfigError(
            f"{dataset.path}: not the data this export was validated on (its fingerprint "
            f"differs from {path}'s data_fingerprint)"
        )


def _read_card(path: Path) -> ModelCard:
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: not a model card ({err})") from None
    if not isinstance(card, dict):
        raise ConfigError(f"{path}: not a model card (expected a JSON object)")
    return ModelCard.from_dict(card, str(path))


def _c_name(card: ModelCard, directory: Path) -> str | None:
    """The C library's name the card records (None: no library was compiled), refused
    unless it is a plain C identifier: the card is a results file, the name becomes paths
    and C symbols."""
    from study.names import c_name_problem

    c = card.c  # a JSON object or None (ModelCard.from_dict)
    if c is None or not (c.get("compiled") or c.get("check_failed")):
        return None
    name = c.get("name")
    problem = c_name_problem(name)
    if problem:
        raise ConfigError(f"{directory / 'model_card.json'}: C name {name!r}: {problem}")
    return name
