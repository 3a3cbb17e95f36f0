"""The answers the compiled C is judged by, in numpy: the exact arithmetic (`reference`,
float64), the C's own float32 arithmetic in its operation order (`c_order_reference`, with
`tanh_rational`), and the float32 engines (`float32_reference`: the SavedModel or the Keras
model, c_source.keras_on_raw). study/best/c_check.py compares the C with them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from study.best.c_source import keras_on_raw, network_layers


def reference(model, pre, raw: np.ndarray) -> np.ndarray:
    """The exact arithmetic's answer: numpy's preprocessing (float32 inputs to the
    network, as both engines feed it) and the network in float64."""
    from scipy.special import erfc

    frame = pd.DataFrame(np.asarray(raw, np.float64), columns=pre.features)
    h = pre.transform(frame)[pre.features].to_numpy(np.float64)
    functions = {
        "tanh": np.tanh, "relu": lambda v: np.maximum(v, 0.0),
        "gelu": lambda v: 0.5 * v * erfc(-v / np.sqrt(2.0)),
        "silu": lambda v: v / (1.0 + np.exp(-v)), "swish": lambda v: v / (1.0 + np.exp(-v)),
        "linear": lambda v: v,
    }  # fmt: skip
    hidden, (k_out, b_out, _) = network_layers(model)
    for k, (kernel, bias, activation) in enumerate(hidden):
        out = functions[activation](h @ kernel.astype(np.float64) + bias)
        h = out if k == 0 else h + out
    z = h @ k_out.astype(np.float64)[:, 0] + float(b_out[0])
    return 1.0 / (1.0 + np.exp(-z))


def tanh_rational(x: np.ndarray) -> np.ndarray:
    """The C's @NAME@_tanh_rational in numpy float32, operation for operation."""
    f = np.float32
    x = np.asarray(x, f)
    a = np.clip(x, f(-7.90531110763549805), f(7.90531110763549805))
    x2 = a * a
    p = f(-2.76076847742355e-16)
    for c in (2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
              1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03):  # fmt: skip
        p = p * x2 + f(c)
    q = f(1.19825839466702e-06)
    for c in (1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03):
        q = q * x2 + f(c)
    return np.where(np.abs(x) < f(0.0004), x, a * p / q).astype(f)


def c_order_reference(model, pre, raw: np.ndarray) -> np.ndarray:
    """The compiled C's own float32 arithmetic, repeated in numpy: the inputs rounded once
    from numpy's double preprocessing, each Dense sum taken in the input's order (one
    rounding for the product, one for the sum: the C is built with -ffp-contract=off), each
    activation and the output's sigmoid computed in double and rounded once (ACTIVATIONS).
    A C that computes this network agrees with it to the last bits; one that computes
    anything else does not. Costs rows x parameters numpy operations: a few thousand rows."""
    from scipy.special import erfc

    frame = pd.DataFrame(np.asarray(raw, np.float64), columns=pre.features)
    h = pre.transform(frame)[pre.features].to_numpy(np.float64).astype(np.float32)

    def silu(v):
        v = v.astype(np.float64)
        return v / (1.0 + np.exp(-v))

    functions = {
        "tanh": tanh_rational, "relu": lambda v: np.maximum(v, np.float32(0.0)),
        "gelu": lambda v: (0.5 * v.astype(np.float64)
                           * erfc(-0.70710678118654752 * v.astype(np.float64))),
        "silu": silu, "swish": silu, "linear": lambda v: v,
    }  # fmt: skip
    hidden, (k_out, b_out, _) = network_layers(model)
    with np.errstate(over="ignore", invalid="ignore"):
        for k, (kernel, bias, activation) in enumerate(hidden):
            acc = np.repeat(bias[None, :], len(h), axis=0)
            for i in range(kernel.shape[0]):
                acc += h[:, i : i + 1] * kernel[i]
            out = functions[activation](acc).astype(np.float32)
            h = out if k == 0 else h + out
        z = np.full(len(h), b_out[0], np.float32)
        for j in range(k_out.shape[0]):
            z += h[:, j] * k_out[j, 0]
        return (1.0 / (1.0 + np.exp(-z.astype(np.float64)))).astype(np.float32)


def float32_reference(export_dir, raw: np.ndarray, model=None) -> tuple[np.ndarray, str]:
    """(probabilities of `raw`, their engine's name) the compiled C is checked against: the
    SavedModel where the export has one, else (no TensorFlow here) the Keras model itself
    (`model`, or the export's model.keras) behind numpy's preprocessing."""
    from pathlib import Path

    from study.data.preprocessing import Preprocessing

    export_dir = Path(export_dir)
    if not len(raw):
        return np.zeros(0, np.float32), "SavedModel"
    if (export_dir / "saved_model").exists():
        import tensorflow as tf

        loaded = tf.saved_model.load(str(export_dir / "saved_model"))  # owns the variables
        parts = [loaded.serve(raw[k : k + 50_000]).numpy() for k in range(0, len(raw), 50_000)]
        return np.concatenate(parts), "SavedModel"
    import keras

    model = model or keras.models.load_model(export_dir / "model.keras")
    pre = Preprocessing.load(export_dir / "preprocessing.json")
    return keras_on_raw(model, pre, raw), "Keras model"
