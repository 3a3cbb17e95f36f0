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
    from study.backend import has_tensorflow
    from study.best import c_export
    from study.best.export import TOLERANCE, check_export, versions, write_saved_model

    directory = Path(study_dir) / "best" / "export"
    restore_swapped(directory)
    for name in NEEDED:
        if not (directory / name).is_file():
            raise ConfigError(f"{directory / name}: missing (has the study exported a model?)")
    card = json.loads((directory / "model_card.json").read_text())
    if card.get("data_fingerprint") not in (None, dataset.fingerprint()):
        raise ConfigError(f"{dataset.path}: not the data this export was validated on")
    if not has_tensorflow():
        raise ConfigError("export: the SavedModel needs TensorFlow, which is not installed here")
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
    card["export_check"] = check_export(tmp, raw[:5_000])
    if card.get("c", {}).get("compiled"):  # built again here: -march=native is this CPU's
        shutil.rmtree(tmp / c_export.DIRECTORY, ignore_errors=True)
        card["c"] = c_export.export_c(model, pre, tmp, raw, TOLERANCE, card["c"]["name"])
    card["versions"] = {**card.get("versions", {}), **versions()}
    card["saved_model_date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"
    )
    (tmp / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    swap_directory(tmp, directory)
    return card


def check_raw_rows(dataset) -> np.ndarray:
    """The first C_CHECK_ROWS rows of the test split in physical units (the features)."""
    frame = dataset.test.to_pandas(dataset.features)[:C_CHECK_ROWS]
    physical = dataset.preprocessing.inverse_transform(frame)
    rows = physical[dataset.features].to_numpy(np.float32)
    if not len(rows):
        raise ExportError(f"{dataset.path}: no test rows to check the SavedModel on")
    return rows
