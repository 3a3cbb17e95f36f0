"""An export, loaded for prediction: raw physical features in, acceptance probability out.

    model = load_export("results/default/best/export")
    p = model.predict(frame)        # a DataFrame with the model's feature columns, or
    p = model.predict(array)        # float32 [N, n_features] in `model.features` order

Engines: "keras" (the default) rebuilds the network from `model.keras` in Keras's safe
mode, checks it is the study's residual network and applies preprocessing.json with
numpy: an export is data, and nothing in it runs. "c" serves the compiled library
(c/NAME.so): the user's explicit choice to run the export's machine code. "savedmodel"
runs the export's TensorFlow graph, which can do anything TensorFlow can (write files):
an explicit opt-in for exports one trusts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from study.data.preprocessing import Preprocessing
from study.errors import DataError
from study.store.atomic import restore_swapped, write_atomic
from study.store.records import read_json

ENGINES = ("keras", "c", "savedmodel")
NEEDS = {"keras": "model.keras", "c": "c/build.json", "savedmodel": "saved_model"}
# what a model.keras that Keras cannot or will not rebuild raises (safe mode: ValueError)
LOAD_ERRORS = (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile)
LAYERS = {"InputLayer", "Dense", "Add"}  # the study's network (study/training/network.py)
# (module, class_name) of every object the study's network's config.json names
NETWORK_OBJECTS = {
    ("keras.src.models.functional", "Functional"),
    *(("keras.layers", name) for name in LAYERS),
    ("keras", "DTypePolicy"),
    ("keras.initializers", "GlorotUniform"),
    ("keras.initializers", "Zeros"),
    ("keras.regularizers", "L2"),
    (None, "__keras_tensor__"),
}
CONFIG_BYTES = 1 << 24  # a config.json larger than this is no study network's


class ExportedModel:
    """`engine`: "keras" (model.keras in safe mode, the default), "c" (the compiled
    library, c/NAME.so) or "savedmodel" (runs the export's TensorFlow graph)."""

    def __init__(self, directory: Path, engine: str = "keras"):
        self.directory, self.engine = Path(directory), engine
        restore_swapped(self.directory)  # an export replaced by a process killed mid-swap
        if engine not in ENGINES:
            raise DataError(f"engine: expected one of {', '.join(ENGINES)}, found {engine!r}")
        for needed in (NEEDS[engine], "preprocessing.json"):
            if not (self.directory / needed).exists():
                self._missing(needed)
        self.pre = Preprocessing.load(self.directory / "preprocessing.json")
        self.features = self.pre.features
        card = self.directory / "model_card.json"
        self.card = read_json(card) if card.exists() else {}  # bounded: a results file
        {"keras": self._load_keras, "c": self._load_c, "savedmodel": self._load_saved}[engine]()

    def _missing(self, needed: str) -> None:
        where = self.directory
        if needed == "saved_model" and (where / "model.keras").exists():
            raise DataError(
                f"{where / needed}: missing (exported where TensorFlow was not installed): "
                "`run_study.py export --study NAME` writes it; the default engine (keras) "
                "or --engine c serve the export without it"
            )
        raise DataError(f"{where / needed}: missing (is {where} an export directory?)")

    def _load_keras(self) -> None:
        self._model = safe_keras_model(self.directory / "model.keras", self.pre)

    def _load_c(self) -> None:
        from study.best.c_export import CLibrary
        from study.errors import ExportError

        try:
            self._c = CLibrary(self.directory)
        except ExportError as err:
            raise DataError(str(err)) from None

    def _load_saved(self) -> None:
        from study.backend import has_tensorflow

        if not has_tensorflow():
            raise DataError(
                "predict: the SavedModel needs TensorFlow, not installed here; the default "
                "engine (keras) or --engine c serve the export without it"
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
            self._batch(raw[k : k + batch_size]) for k in range(0, max(len(raw), 1), batch_size)
        ]
        return np.concatenate(parts)[: len(raw)]

    def _batch(self, raw: np.ndarray) -> np.ndarray:
        if self.engine == "keras":
            from study.best.c_source import keras_on_raw

            return keras_on_raw(self._model, self.pre, raw)
        return self._loaded.serve(raw).numpy()


def select_keras_backend() -> None:
    """Where nothing chose a Keras backend yet: TensorFlow if installed, else JAX (a
    model.keras loads on either)."""
    import sys

    if "keras" in sys.modules or os.environ.get("KERAS_BACKEND"):
        return
    from study.backend import has_tensorflow, select

    if has_tensorflow() or importlib.util.find_spec("jax") is None:
        return  # Keras's own default, or its own message where neither is installed
    select("jax")


def safe_keras_model(path: Path, pre: Preprocessing):
    """The study's residual network from `path`, rebuilt in Keras's safe mode (no Lambda,
    no custom object, no code); a DataError for anything else."""
    select_keras_backend()
    import keras

    from study.best.c_source import network_layers, preprocessing_problem

    check_network_config(path)
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
        network_layers(model)
    except LOAD_ERRORS as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DataError(f"{path}: refused: {first}") from None
    others = sorted({type(x).__name__ for x in model.layers} - LAYERS)
    if others:
        raise DataError(f"{path}: refused: not the study's residual network (layers {others})")
    problem = preprocessing_problem(pre)
    if problem:
        raise DataError(f"{path.parent / 'preprocessing.json'}: {problem}")
    width = model.input_shape[-1]
    if width != len(pre.features):
        raise DataError(f"{path}: {width} inputs for {len(pre.features)} features")
    return model


def check_network_config(path: Path) -> None:
    """Refuse (DataError) a model.keras whose config.json is not the study's network,
    before Keras reads it: safe mode alone has been talked round before."""
    if path.is_symlink() or not path.is_file():
        raise DataError(f"{path}: expected a regular file, found a link or no file")
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.getinfo("config.json").file_size > CONFIG_BYTES:
                raise DataError(f"{path}: config.json larger than {CONFIG_BYTES} bytes")
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise DataError(f"{path}: not a Keras model file ({type(err).__name__})") from None
    problem = network_config_problem(config)
    if problem:
        raise DataError(
            f"{path}: not the study's residual network ({problem}); refused before loading it"
        )


def network_config_problem(config: dict) -> str | None:
    """What makes a model.keras config.json no study network (None: it is one): an
    object outside NETWORK_OBJECTS (a Lambda layer, a custom class, a function), or an
    activation that is not one of the C export's. The compile config is not read: the
    model is loaded uncompiled."""
    from study.best.c_source import ACTIVATIONS

    if not isinstance(config, dict) or "config" not in config:
        return "no model config"
    activations = {*ACTIVATIONS, "sigmoid"}
    stack: list = [{k: v for k, v in config.items() if k != "compile_config"}]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        if not isinstance(item, dict):
            continue
        if "class_name" in item:
            named = (item.get("module"), item["class_name"])
            if not all(isinstance(n, str | None) for n in named) or named not in NETWORK_OBJECTS:
                return f"object {named[1]!r} of module {named[0]!r}"
            if item.get("registered_name") not in (None, named[1]):
                return f"object {named[1]!r} registered as {item['registered_name']!r}"
        activation = item.get("activation", "linear")
        if not isinstance(activation, str) or activation not in activations:
            return f"activation {activation!r}"
        stack.extend(item.values())
    return None


def load_export(directory: Path, engine: str = "keras") -> ExportedModel:
    return ExportedModel(directory, engine)


def predict(
    model_dir: Path, input_path: Path, output: Path, batch_size: int = 100_000,
    engine: str = "keras", tree: str | None = None,
) -> tuple[int, list[str]]:  # fmt: skip
    """Apply an export to raw feather, parquet or ROOT data (study/data/raw.py `raw_frame`);
    write the input's columns plus `predicted_acceptance` as feather through a fresh
    temporary file beside `output` (mkstemp: never a planted link). Returns the rows and
    the ROOT branches left out (several numbers per entry: no flat table holds them)."""
    from study.data.raw import raw_frame

    model = ExportedModel(model_dir, engine)
    frame, left_out = raw_frame(Path(input_path), model.features, tree)
    frame["predicted_acceptance"] = model.predict(frame, batch_size)
    write_atomic(Path(output), frame.to_feather)
    return len(frame), left_out
