"""An export, loaded for prediction: raw physical features in, acceptance probability out.

    model = load_export("results/default/best/export")
    p = model.predict(frame)        # a DataFrame with the model's feature columns, or
    p = model.predict(array)        # float32 [N, n_features] in `model.features` order

The SavedModel holds the whole pipeline (preprocessing and network), so only
TensorFlow is needed, whatever backend trained the model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from study.data.checks import check_values, feather_files, read_schema
from study.data.preprocessing import Preprocessing
from study.errors import DataError
from study.store.atomic import restore_swapped

ENGINES = ("savedmodel", "c")


class ExportedModel:
    """`engine`: "savedmodel" (TensorFlow) or "c" (the compiled library, c/NAME.so)."""

    def __init__(self, directory: Path, engine: str = "savedmodel"):
        self.directory, self.engine = Path(directory), engine
        restore_swapped(self.directory)  # an export replaced by a process killed mid-swap
        if engine not in ENGINES:
            raise DataError(f"engine: expected one of {', '.join(ENGINES)}, found {engine!r}")
        needs = ("saved_model",) if engine == "savedmodel" else ("c/build.json",)
        for needed in (*needs, "preprocessing.json"):
            if not (self.directory / needed).exists():
                where = self.directory
                if needed == "saved_model" and (where / "model.keras").exists():
                    raise DataError(
                        f"{where / needed}: missing (exported where TensorFlow was not "
                        "installed): `run_study.py export --study NAME` writes it, or "
                        "--engine c serves the compiled C"
                    )
                raise DataError(f"{where / needed}: missing (is {where} an export directory?)")
        self.features = Preprocessing.load(self.directory / "preprocessing.json").features
        card = self.directory / "model_card.json"
        self.card = json.loads(card.read_text()) if card.exists() else {}
        if engine == "c":
            from study.best.c_export import CLibrary
            from study.errors import ExportError

            try:
                self._c = CLibrary(self.directory)
            except ExportError as err:
                raise DataError(str(err)) from None
            return
        from study.backend import has_tensorflow

        if not has_tensorflow():
            raise DataError(
                "predict: the SavedModel needs TensorFlow, not installed here; "
                "--engine c serves the compiled C"
            )
        import tensorflow as tf

        saved = str(self.directory / "saved_model")
        self._loaded = tf.saved_model.load(saved)  # kept: it owns the variables

    def predict(self, data, batch_size: int = 100_000) -> np.ndarray:
        """Acceptance probabilities of `data`'s rows (a DataFrame or a [N, features] array)."""
        if isinstance(data, pd.DataFrame):
            missing = [c for c in self.features if c not in data.columns]
            if missing:
                raise DataError(f"predict: the data lack the model's features {missing}")
            data = data[self.features].to_numpy(np.float32)
        raw = np.asarray(data, np.float32)
        if raw.ndim != 2 or raw.shape[1] != len(self.features):
            names = ", ".join(self.features)
            raise DataError(
                f"predict: expected an array [N, {len(self.features)}] ({names}), "
                f"found shape {raw.shape}"
            )
        if self.engine == "c":
            return self._c.predict(raw)
        parts = [
            self._loaded.serve(raw[k : k + batch_size]).numpy()
            for k in range(0, max(len(raw), 1), batch_size)
        ]
        return np.concatenate(parts)[: len(raw)]


def load_export(directory: Path, engine: str = "savedmodel") -> ExportedModel:
    return ExportedModel(directory, engine)


def read_raw_features(path: Path, features: list[str]) -> pd.DataFrame:
    """All columns of raw feather input, after checking the model's features are there."""
    files = feather_files(path)
    for f in files:
        schema, _ = read_schema(f)
        for column in features:
            if column not in schema.names:
                raise DataError(f"{f}: column {column}: needed by the model but absent")
    frame = pd.concat([pd.read_feather(f) for f in files], ignore_index=True)
    for column in features:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise DataError(f"{files[0]}: column {column}: not numeric ({frame[column].dtype})")
        check_values(files[0] if len(files) == 1 else path, column, frame[column].to_numpy())
    return frame


def predict(
    model_dir: Path, input_path: Path, output: Path, batch_size: int = 100_000,
    engine: str = "savedmodel",
) -> int:  # fmt: skip
    """Apply an export to raw feather data; write the input plus `predicted_acceptance`."""
    model = ExportedModel(model_dir, engine)
    frame = read_raw_features(Path(input_path), model.features)
    frame["predicted_acceptance"] = model.predict(frame, batch_size)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    frame.to_feather(tmp)
    os.replace(tmp, output)
    return len(frame)
