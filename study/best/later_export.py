"""`run_study.py export --study NAME`: the SavedModel of an export written where TensorFlow
was missing (a JAX-only GPU image), written and checked later on a machine that has it.

The export directory is copied aside, the SavedModel written into the copy from its
`model.keras` and checked against it (study/best/export.py), the C library built again
(its `-march=native` is the building CPU's: one built on the GPU node may not run here)
and checked against the SavedModel (within 1e-5, as at a full export), the model
card updated, and the copy swapped into place: a failed or killed run leaves the export
as it was.
"""

from __future__ import annotations

import datetime
import json
import logging
import shutil
from pathlib import Path

import numpy as np

from study.best.pipeline import C_CHECK_ROWS
from study.errors import ConfigError, ExportError
from study.store.atomic import restore_swapped, swap_directory

log = logging.getLogger(__name__)
NEEDED = ("model.keras", "preprocessing.json", "model_card.json")


def write_later(study_dir: Path, dataset) -> dict:
    """Write and check the SavedModel of `study_dir`'s export, the compiled C checked
    against it on `dataset`'s test rows (the study's data); the updated model card."""
    from study.best import c_export
    from study.best.export import CHECK_ROWS, TOLERANCE, check_export, versions, write_saved_model

    directory = Path(study_dir) / "best" / "export"
    restore_swapped(directory)
    for name in NEEDED:
        if not (directory / name).is_file():
            raise ConfigError(f"{directory / name}: missing (has the study exported a model?)")
    card = _read_card(directory / "model_card.json")
    if card.get("data_fingerprint") not in (None, dataset.fingerprint()):
        raise ConfigError(f"{dataset.path}: not the data this export was validated on")
    c_name = _c_name(card, directory)
    import keras

    from study.data.preprocessing import Preprocessing

    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(directory, tmp, symlinks=True)
    shutil.rmtree(tmp / "saved_model", ignore_errors=True)
    model = keras.models.load_model(tmp / "model.keras")
    pre = Preprocessing.load(tmp / "preprocessing.json")
    raw = check_raw_rows(dataset)
    write_saved_model(model, pre, tmp / "saved_model")
    card["export_check"] = check_export(tmp, raw[:CHECK_ROWS])
    if c_name is not None:  # built again here: -march=native is this CPU's
        shutil.rmtree(tmp / c_export.DIRECTORY, ignore_errors=True)
        card["c"] = c_export.export_c(model, pre, tmp, raw, TOLERANCE, c_name)
    card["versions"] = versions()
    card["saved_model_date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"
    )
    (tmp / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    swap_directory(tmp, directory)
    return card


def _read_card(path: Path) -> dict:
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: not a model card ({err})") from None
    if not isinstance(card, dict):
        raise ConfigError(f"{path}: not a model card (expected a JSON object)")
    return card


def _c_name(card: dict, directory: Path) -> str | None:
    """The C library's name the card records (None: no library was compiled), refused
    unless it is a plain C identifier: the card is a results file, the name becomes paths
    and C symbols."""
    from study.names import c_name_problem

    c = card.get("c")
    if not isinstance(c, dict) or not c.get("compiled"):
        return None
    name = c.get("name")
    problem = c_name_problem(name)
    if problem:
        raise ConfigError(f"{directory / 'model_card.json'}: C name {name!r}: {problem}")
    return name


def check_raw_rows(dataset) -> np.ndarray:
    """The first C_CHECK_ROWS rows of the test split in physical units (the features)."""
    frame = dataset.test.to_pandas(dataset.features)[:C_CHECK_ROWS]
    physical = dataset.preprocessing.inverse_transform(frame)
    rows = physical[dataset.features].to_numpy(np.float32)
    if not len(rows):
        raise ExportError(f"{dataset.path}: no test rows to check the SavedModel on")
    return rows
