"""Export of the retrained model, load-back checks, and prediction on raw features.

`best/export/` holds `model.keras` (on preprocessed features), a TensorFlow
SavedModel `saved_model/` whose default serving signature takes **raw
physical features** (float32 [N, n_features] in definitions.json order) with
the quantile preprocessing built into the graph and returns the acceptance
probability [N], `preprocessing.json` and `model_card.json`. The export is
written into a temporary directory, reloaded and checked (SavedModel on raw
features vs model.keras on preprocessed features), then renamed
into place (the difference allowed grows with what the network's float32 arithmetic
allows: `allowed_difference`). Export is the one stage that needs TensorFlow: where it is
not installed (a JAX-only GPU image) the SavedModel is not written, the compiled C is
checked against the Keras model itself, and `run_study.py export --study NAME`
(`write_later`) writes and checks the SavedModel afterwards on a machine with TensorFlow.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import numpy as np

from study import faults
from study.best.c_source import keras_on_raw, network_inputs
from study.best.card import ModelCard
from study.data.preprocessing import CLIP, Preprocessing
from study.errors import ExportError
from study.store.atomic import swap_directory

# The least difference allowed between two float32 engines of the network; above it, what
# the network's own float32 arithmetic allows (`allowed_difference`): a 7 x 213 gelu network
# trained on JAX (seed 0's 30-minute study) showed 1.007e-05 between its SavedModel and
# model.keras, which a fixed 1e-5 turned into an abort after the final fit; one float32 ulp
# on its inputs moves it by up to 9.9e-06, its arithmetic by 2.6e-06.
TOLERANCE = 1e-5
NO_TENSORFLOW = "not written: TensorFlow is not installed here"
CHECK_ROWS = 5_000  # raw test rows of the SavedModel's check (the C's: all it is given)


def _tf_interp(x, xp, fp):
    """numpy.interp in TensorFlow ops, with numpy's rules at ties and at the ends.

    numpy takes the largest j with xp[j] <= x (so a run of equal xp gives the
    fp of its last element), fp[-1] at x >= xp[-1], fp[0] below xp[0].
    """
    import tensorflow as tf

    n = int(xp.shape[0])
    upper = tf.searchsorted(xp, x, side="right")  # j + 1
    j = tf.clip_by_value(upper - 1, 0, n - 2)
    x0, x1 = tf.gather(xp, j), tf.gather(xp, j + 1)
    f0, f1 = tf.gather(fp, j), tf.gather(fp, j + 1)
    dx = x1 - x0
    t = tf.where(dx > 0, (x - x0) / tf.where(dx > 0, dx, tf.ones_like(dx)), tf.zeros_like(dx))
    interior = f0 + t * (f1 - f0)
    return tf.where(x < xp[0], fp[0], tf.where(upper >= n, fp[-1], interior))


def preprocessing_graph(pre: Preprocessing):
    """A function raw float32 [N, F] -> preprocessed float32 [N, F], in TensorFlow ops."""
    import tensorflow as tf

    r = tf.constant(pre.references, tf.float64)
    tables = {}
    for name in pre.continuous:
        q = np.asarray(pre.quantiles[name], np.float64)
        tables[name] = (tf.constant(q), bool(np.any(np.diff(q) <= 0)))

    def forward(raw):
        x = tf.cast(raw, tf.float64)
        columns = []
        for j, name in enumerate(pre.features):
            column = x[:, j]
            if name in tables:
                q, ties = tables[name]
                u = _tf_interp(column, q, r)
                if ties:
                    u = 0.5 * (u - _tf_interp(-column, -tf.reverse(q, [0]), -tf.reverse(r, [0])))
                column = tf.math.ndtri(tf.clip_by_value(u, CLIP, 1.0 - CLIP))
            columns.append(column)
        return tf.cast(tf.stack(columns, axis=1), tf.float32)

    return forward


def write_saved_model(model, pre: Preprocessing, path: Path) -> None:
    import keras
    import tensorflow as tf

    forward = preprocessing_graph(pre)
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(raw):
        return tf.reshape(model(forward(raw), training=False), [-1])

    archive.add_endpoint(
        "serve",
        serve,
        input_signature=[tf.TensorSpec([None, len(pre.features)], tf.float32, name="features")],
    )
    archive.write_out(str(path), verbose=False)


def versions() -> dict:
    out = {}
    for package in ("acceptance-study", "tensorflow", "keras", "keras-tuner", "numpy", "pyarrow"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


def fresh_directory(path: Path) -> Path:
    """`path` as a new, empty directory of ours: a link or file there is removed (never
    followed), a leftover directory removed whole; a removal that fails is an error."""
    from study.store.atomic import remove_tree

    remove_tree(path)
    Path(path).mkdir(parents=True)
    return Path(path)


def export_model(
    model, pre: Preprocessing, directory: Path, card: ModelCard, raw_sample: np.ndarray,
    c_name: str = "acceptance", c_march: str = "baseline",
) -> dict:  # fmt: skip
    """Write, reload and check the export (the SavedModel on the first CHECK_ROWS rows of
    `raw_sample`, the compiled C on all of them); returns the SavedModel check's figures.
    A C that fails its check does not hold the rest back: the export lands with the C set
    aside in `c-failed-check/` and the failure in the card, then CCheckFailed is raised."""
    directory = Path(directory)
    tmp = fresh_directory(directory.with_name(directory.name + ".tmp"))
    model.save(tmp / "model.keras")
    pre.save(tmp / "preprocessing.json")
    import keras

    from study.backend import has_tensorflow

    sample = np.asarray(raw_sample, np.float32)[:CHECK_ROWS]
    if not has_tensorflow():  # a JAX-only image: `run_study.py export` writes it later
        check = {"rows": 0, "max_abs_difference": None, "saved_model": NO_TENSORFLOW}
    elif keras.backend.backend() == "tensorflow":
        write_saved_model(model, pre, tmp / "saved_model")
        check = check_export(tmp, sample)
    else:  # the SavedModel needs TensorFlow's graph: written by a TensorFlow child
        check = _export_in_tensorflow(model, pre, tmp, sample)
    c_record, failed = build_c(model, pre, tmp, np.asarray(raw_sample, np.float32), c_name, c_march)
    card = replace(
        card,
        c=c_record,
        features=pre.features,
        flags=pre.flags,
        export_check=check,
        versions=versions(),
        backend=keras.backend.backend(),  # the Keras backend it was trained on
        date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        signature={
            "input": f"float32 [N, {len(pre.features)}] raw features",
            "output": "float32 [N] acceptance probability",
        },
    )
    (tmp / "model_card.json").write_text(json.dumps(card.to_dict(), indent=2) + "\n")
    faults.point("export")
    swap_directory(tmp, directory)
    if failed is not None:
        raise failed
    return check


def build_c(model, pre, directory: Path, raw: np.ndarray, c_name: str, c_march: str):
    """(the card's `c` record, None) for a checked C library in `directory/c/`; where its
    check fails, (the record, the CCheckFailed to raise once the export has landed), the
    library moved to `directory/c-failed-check/` so that nothing loads it by mistake."""
    from study.best import c_check, c_export
    from study.errors import CCheckFailed

    try:
        return c_check.export_c(model, pre, directory, raw, c_name, c_march), None
    except CCheckFailed as failed:
        os.replace(directory / c_export.DIRECTORY, directory / c_export.FAILED)
        record = {**failed.record, "compiled": False, "kept_aside": c_export.FAILED}
        return record, failed


def _export_in_tensorflow(model, pre: Preprocessing, tmp: Path, raw_sample: np.ndarray) -> dict:
    """Write and check the SavedModel of a model trained on another Keras backend (JAX): a
    child process on the TensorFlow backend loads `model.keras`, writes the SavedModel and
    checks it against both its own `model.keras` and this process's predictions."""
    import subprocess
    import sys

    raw = np.asarray(raw_sample, np.float32)
    trained = keras_on_raw(model, pre, raw)
    np.save(tmp / "check_raw.npy", raw)
    np.save(tmp / "check_trained.npy", trained.astype(np.float32))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run(
        [sys.executable, "-m", "study.best.export", str(tmp)],
        env=env,
        capture_output=True,
        text=True,
    )
    for name in ("check_raw.npy", "check_trained.npy"):
        (tmp / name).unlink(missing_ok=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ExportError(f"{tmp}: the TensorFlow export process failed: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _tensorflow_child(directory: Path) -> dict:
    """`python -m study.best.export DIR` (TensorFlow backend): SavedModel from model.keras."""
    import keras

    pre = Preprocessing.load(directory / "preprocessing.json")
    model = keras.models.load_model(directory / "model.keras")
    write_saved_model(model, pre, directory / "saved_model")
    raw = np.load(directory / "check_raw.npy")
    check = check_export(directory, raw)
    import tensorflow as tf

    loaded = tf.saved_model.load(str(directory / "saved_model"))
    saved_p = loaded.serve(raw).numpy() if len(raw) else np.zeros(0)
    trained = np.load(directory / "check_trained.npy")
    difference = float(np.max(np.abs(trained - saved_p))) if len(raw) else 0.0
    allowed = check["allowed_difference"]
    if not difference <= allowed:
        raise ExportError(
            f"{directory}: the SavedModel and the trained model differ by {difference:.3g} "
            f"(> {allowed:.3g}) on {len(raw)} test rows"
        )
    check["max_abs_difference"] = max(check["max_abs_difference"], difference)
    return check


def check_export(directory: Path, raw_sample: np.ndarray) -> dict:
    """SavedModel on raw features vs model.keras on preprocessed ones; raise if they differ."""
    import keras
    import tensorflow as tf

    pre = Preprocessing.load(directory / "preprocessing.json")
    raw = np.asarray(raw_sample, np.float32)
    model = keras.models.load_model(directory / "model.keras")
    keras_p = keras_on_raw(model, pre, raw)
    loaded = tf.saved_model.load(str(directory / "saved_model"))  # keep: it owns the variables
    saved_p = loaded.serve(raw).numpy()
    difference = float(np.max(np.abs(keras_p - saved_p))) if len(raw) else 0.0
    allowed = allowed_difference(model, pre, raw, keras_p)
    if not difference <= allowed:
        raise ExportError(
            f"{directory}: the SavedModel and model.keras differ by {difference:.3g} "
            f"(> {allowed:.3g}) on {len(raw)} test rows"
        )
    return {"rows": int(len(raw)), "max_abs_difference": difference,
            "allowed_difference": allowed}  # fmt: skip


def allowed_difference(model, pre: Preprocessing, raw: np.ndarray, keras_p: np.ndarray) -> float:
    """How far two float32 engines of `model` may differ on `raw`: twice model.keras's own
    error (`keras_p` against the exact arithmetic, `c_reference.reference`) plus twice the
    network's response to one float32 ulp on every input (the SavedModel's preprocessing
    in TensorFlow ops and numpy's round an input to neighbouring floats), at least
    TOLERANCE."""
    from study.best.c_reference import reference

    if not len(raw):
        return TOLERANCE
    own = float(np.max(np.abs(np.asarray(keras_p, np.float64) - reference(model, pre, raw))))
    x = network_inputs(pre, raw)
    p0, up, down = (
        model.predict(v, batch_size=8192, verbose=0)[:, 0]
        for v in (x, np.nextafter(x, np.float32(np.inf)), np.nextafter(x, np.float32(-np.inf)))
    )
    ulp = float(max(np.max(np.abs(up - p0)), np.max(np.abs(down - p0))))  # fmt: skip
    allowed = 2.0 * own + 2.0 * ulp
    return max(TOLERANCE, allowed) if np.isfinite(allowed) else TOLERANCE


if __name__ == "__main__":
    import sys

    print(json.dumps(_tensorflow_child(Path(sys.argv[1]))))
