"""The SavedModel's check against model.keras allows what the network's own float32
arithmetic allows: a deep, wide network with large weights passes, a model that differs
does not (a study on JAX once aborted after its final fit on a fixed 1e-5)."""

import numpy as np
import pandas as pd
import pytest

from study.best import export
from study.best.c_reference import reference
from study.best.c_source import keras_on_raw
from study.data import synthetic
from study.data.preprocessing import Preprocessing
from study.errors import ExportError
from study.training.network import build_network


def _export(directory, gain: float, bias_shift: float = 0.0):
    """A 7 x 213 gelu network with weights of std gain / sqrt(fan-in), its SavedModel, and
    its model.keras with the output's bias moved by `bias_shift`; raw rows to check on."""
    frame = next(synthetic.generate(25_000, seed=5, chunk_size=25_000))
    features = [c for c in frame.columns if c.startswith("mc_")]
    flags = [c for c in features if c.startswith("mc_is") or c == "mc_charge"]
    pre = Preprocessing.fit(frame.iloc[:20_000], features, flags)
    model = build_network(len(features), 213, 7, "gelu", 0.0)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.get_weights():
            k, b = layer.get_weights()
            layer.set_weights([rng.normal(0, gain / np.sqrt(k.shape[0]), k.shape).astype("f4"),
                               rng.normal(0, 0.1, b.shape).astype("f4")])  # fmt: skip
    import keras

    raw = frame[features].to_numpy(np.float32)[20_000:]
    hidden = keras.Model(model.inputs, model.layers[-2].output)
    x = pre.transform(frame.iloc[20_000:])[features].to_numpy(np.float32)
    scale = float(np.std(hidden.predict(x, verbose=0)))  # logits of std ~2: no saturation
    k, b = model.layers[-1].get_weights()
    model.layers[-1].set_weights([(k * 2 / (np.std(k) * np.sqrt(k.shape[0]) * scale)).astype("f4"),
                                  b])  # fmt: skip
    export.write_saved_model(model, pre, directory / "saved_model")
    pre.save(directory / "preprocessing.json")
    k, b = model.layers[-1].get_weights()
    model.layers[-1].set_weights([k, b + np.float32(bias_shift)])
    model.save(directory / "model.keras")
    return model, pre, raw


def test_the_allowed_difference_is_the_network_s_own_float32_error_and_input_ulp(tmp_path):
    model, pre, raw = _export(tmp_path, gain=2.0)
    exact = reference(model, pre, raw)
    p = keras_on_raw(model, pre, raw)
    own = float(np.max(np.abs(p - exact)))
    x = pre.transform(pd.DataFrame(raw.astype("f8"), columns=pre.features))[pre.features]
    x = x.to_numpy(np.float32)
    ulp = max(float(np.max(np.abs(model.predict(np.nextafter(x, np.float32(e)), verbose=0)[:, 0]
                                  - p))) for e in (np.inf, -np.inf))  # fmt: skip
    assert 0 < own < 1e-5 and 0 < ulp < 1e-5
    allowed = export.allowed_difference(model, pre, raw, p)
    assert allowed == pytest.approx(max(export.TOLERANCE, 2 * own + 2 * ulp), rel=1e-6)
    # hand-made: each 1e-5 more of keras_p's own error allows 2e-5 more; none: the floor
    more = export.allowed_difference(model, pre, raw[:50], exact[:50] + 2e-5)
    less = export.allowed_difference(model, pre, raw[:50], exact[:50] + 1e-5)
    assert more - less == pytest.approx(2e-5, rel=1e-3) and less >= 2e-5
    assert export.allowed_difference(model, pre, raw[:0], exact[:0]) == 1e-5
    assert export.allowed_difference(model, pre, raw[:2], np.full(2, np.nan)) == 1e-5
    figures = export.check_export(tmp_path, raw)  # the network's own export passes
    assert figures["max_abs_difference"] <= figures["allowed_difference"]
    assert figures["allowed_difference"] == pytest.approx(allowed, rel=1e-6)


def test_a_model_keras_that_differs_from_its_savedmodel_fails_the_check(tmp_path):
    _, _, raw = _export(tmp_path, gain=2.0, bias_shift=1e-2)
    with pytest.raises(ExportError, match=r"the SavedModel and model.keras differ by .* \(> "):
        export.check_export(tmp_path, raw)
