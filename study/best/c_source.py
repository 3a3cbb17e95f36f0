"""C99 source of the whole pipeline: raw features -> quantile transform -> residual network
-> sigmoid, with the scikinC entry point Lamarr loads (`float *NAME(float *out, const
float *in)`, one particle) and a batch entry (`NAME_batch(out, in, n)`).

The quantile transform is computed in double with numpy's `interp` rules (the largest
j with q[j] <= x; below the first quantile the first reference, from the last on the
last; ties averaged with the mirrored interpolation), clipped to [CLIP, 1 - CLIP]
(preprocessing.py's 1e-7) and mapped by the normal quantile function (Acklam's
approximation refined by one Halley step on erfc: ~1e-15). The network runs in
float32, as Keras does: in the batch path each weight row, loaded once, serves 8
particles (bench/bench_inference.py measures the batch against a single-threaded BLAS
GEMM at the same shapes). Widths are padded to multiples of 16 with zero weights
(every activation here maps 0 to 0, so padded units stay 0).

Every symbol but NAME and NAME_batch is static and named NAME_... (the library exports
those two alone), and no dataset string reaches the source raw: a feature's name is
reduced to letters, digits and `_ . -` in comments (`comment_text`) and written as an
escaped string literal in the header's NAME_FEATURE_NAMES (`string_literal`).

`reference` is the same pipeline in float64 numpy: the exact answer the export check
judges the C and the SavedModel by.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from study.best.c_runtime import DENSE, PREAMBLE, TANH
from study.data.preprocessing import CLIP
from study.names import c_name_problem

ACTIVATIONS = {  # Keras's; none depends on which libm a machine has (ACCURACY)
    # Eigen's rational tanh, in float with no call: it vectorises, and TensorFlow's CPU
    # kernels compute the same; numpy repeats it bit for bit (tanh_rational)
    "tanh": "@NAME@_tanh_rational(v)",
    "relu": "(v > 0.0f ? v : 0.0f)",
    # gelu in double through erfc (no cancellation for v < 0), rounded once to float
    "gelu": "(float)(0.5 * (double)v * erfc(-0.70710678118654752 * (double)v))",
    # x sigmoid(x) in double, rounded once (the rational tanh's 1 + tanh cancels for v < 0)
    "silu": "(float)((double)v / (1.0 + exp(-(double)v)))",
    "swish": "(float)((double)v / (1.0 + exp(-(double)v)))",
    "linear": "v",
}
# What each activation guarantees on every CPU, measured on a sweep of floats against the
# exact function (tests/best/test_c_activations.py; bench/README.md has the figures).
ACCURACY = {
    "tanh": "Eigen's rational in float: |error| < 4e-7, at most 8 float ulps (5.0 measured)",
    "relu": "exact",
    "gelu": "in double (erfc), rounded once: at most 1 float ulp (0.5 measured)",
    "silu": "in double (exp), rounded once: at most 1 float ulp (0.5 measured)",
    "swish": "in double (exp), rounded once: at most 1 float ulp (0.5 measured)",
    "linear": "exact",
}
BLOCK = 16  # widths are padded to a multiple of this (whole vectors)
PARTICLES = 8  # particles sharing each weight row in the batch path


def comment_text(text: str) -> str:
    """`text` for a C comment: letters, digits and `_ . -` kept, anything else `_`, at
    most 64 characters (no `*/`, no line splice, no trigraph can survive)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(text))[:64]


def string_literal(text: str) -> str:
    """`text` as a C string literal: UTF-8, with backslash, quote and `?` (trigraphs)
    escaped and every byte outside printable ASCII as a three-digit octal escape."""
    out = []
    for byte in str(text).encode("utf-8", "backslashreplace"):
        c = chr(byte)
        if c in '\\"?':
            out.append("\\" + c)
        else:
            out.append(c if 0x20 <= byte < 0x7F else f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _array(name: str, values, ctype: str = "float") -> str:
    values = np.asarray(values, np.float64 if ctype == "double" else np.float32).ravel()
    digits, suffix = (17, "") if ctype == "double" else (9, "f")

    def literal(v) -> str:
        text = f"{v:.{digits}g}"
        return text + ("" if any(c in text for c in ".en") else ".0") + suffix

    rows = [", ".join(literal(v) for v in values[k : k + 8]) for k in range(0, len(values), 8)]
    body = ",\n    ".join(rows) if rows else "0"
    return f"static const {ctype} {name}[{max(len(values), 1)}] = {{\n    {body}\n}};\n"


def _padded(kernel: np.ndarray, bias: np.ndarray, rows: int, cols: int):
    k = np.zeros((rows, cols), np.float32)
    k[: kernel.shape[0], : kernel.shape[1]] = kernel
    b = np.zeros(cols, np.float32)
    b[: bias.shape[0]] = bias
    return k, b


def _round_up(n: int) -> int:
    return -(-n // BLOCK) * BLOCK


def network_layers(model) -> tuple[list[tuple[np.ndarray, np.ndarray, str]], str]:
    """[(kernel, bias, activation)] of the input layer and each block, and the output
    layer's activation, from the study's residual network; ValueError for another shape."""
    import keras

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    names = [layer.name for layer in dense]
    blocks = [n for n in names if n.startswith("block_")]
    if names != ["input_dense", *blocks, "acceptance"]:
        raise ValueError(f"not the study's residual network (Dense layers {names})")
    layers = []
    for layer in dense:
        kernel, bias = (np.asarray(v, np.float32) for v in layer.get_weights())
        activation = layer.activation.__name__
        wanted = ("sigmoid",) if layer is dense[-1] else tuple(ACTIVATIONS)
        if activation not in wanted:
            raise ValueError(
                f"layer {layer.name}: activation {activation!r}, expected one of {wanted}"
            )
        if not (np.all(np.isfinite(kernel)) and np.all(np.isfinite(bias))):
            raise ValueError(f"layer {layer.name}: weights that are not finite numbers")
        layers.append((kernel, bias, activation))
    return layers[:-1], layers[-1]


def activations_of(model) -> list[str]:
    """The hidden layers' activations, each once."""
    return sorted({activation for _, _, activation in network_layers(model)[0]})


def preprocessing_problem(pre) -> str | None:
    """What makes `pre` no preprocessing the C can be generated from (None: it is one):
    finite, increasing references in [0, 1]; for each continuous feature as many finite,
    non-decreasing quantiles; every flag and continuous column a feature."""
    r = np.asarray(pre.references, np.float64)
    if r.ndim != 1 or len(r) < 2 or not np.all(np.isfinite(r)) or np.any(np.diff(r) <= 0):
        return "references: expected at least 2 finite, increasing numbers"
    if r[0] < 0 or r[-1] > 1:
        return "references: expected numbers in [0, 1]"
    for c in [*pre.continuous, *pre.flags]:
        if c not in pre.features:
            return f"column {c!r} is no feature"
    for c in pre.continuous:
        q = np.asarray(pre.quantiles.get(c, ()), np.float64)
        if q.shape != r.shape:
            return f"feature {c!r}: {q.size} quantiles for {len(r)} references"
        if not np.all(np.isfinite(q)) or np.any(np.diff(q) < 0):
            return f"feature {c!r}: quantiles that are not finite, non-decreasing numbers"
    return None


def keras_on_raw(model, pre, raw: np.ndarray) -> np.ndarray:
    """The Keras model's probabilities of raw rows behind numpy's preprocessing (float32
    inputs to the network): the float32 path every export check compares with."""
    if not len(raw):
        return np.zeros(0, np.float32)
    return model.predict(network_inputs(pre, raw), batch_size=8192, verbose=0)[:, 0]


def network_inputs(pre, raw: np.ndarray) -> np.ndarray:
    """Raw rows through numpy's preprocessing, as float32 inputs to the network."""
    frame = pd.DataFrame(np.asarray(raw, np.float64), columns=pre.features)
    return pre.transform(frame)[pre.features].to_numpy(np.float32)


def generate(model, pre, name: str = "acceptance") -> tuple[str, str]:
    """(C source, header) of `model` (Keras, the study's network) behind `pre`."""
    problem = c_name_problem(name)
    if problem:
        raise ValueError(f"C name {name!r}: {problem}")
    problem = preprocessing_problem(pre)
    if problem:
        raise ValueError(f"preprocessing: {problem}")
    hidden, (k_out, b_out, out_act) = network_layers(model)
    if out_act != "sigmoid" or k_out.shape[1] != 1:
        raise ValueError("the output layer is not Dense(1, sigmoid)")
    n_features = len(pre.features)
    wp = _round_up(hidden[0][0].shape[1])
    acts = sorted({a for _, _, a in hidden})
    ties = {
        c: bool(np.any(np.diff(np.asarray(pre.quantiles[c], np.float64)) <= 0))
        for c in pre.continuous
    }
    cases = "".join(f"    case {k}: return {ACTIVATIONS[a]};\n" for k, a in enumerate(acts))
    parts = [
        PREAMBLE,
        _tables(pre, ties, hidden, k_out, b_out, wp),
        TANH,
        "static inline float @NAME@_activate(float v, int act)\n{\n    switch (act) {\n"
        f"{cases}    default: return v;\n    }}\n}}\n",
        DENSE + f"@NAME@_DENSE(1)\n@NAME@_DENSE({PARTICLES})\n#undef @NAME@_DENSE\n",
        _preprocess(pre, ties),
        _forward(hidden, acts, n_features, wp),
    ]
    return "".join(parts).replace("@NAME@", name), _header(name, n_features, pre)


def _tables(pre, ties: dict, hidden: list, k_out, b_out, wp: int) -> str:
    """The quantile tables, the padded weights and biases, as static arrays."""
    parts = [_array("@NAME@_REFERENCES", pre.references, "double")]
    for c in pre.continuous:
        j, q = pre.features.index(c), np.asarray(pre.quantiles[c], np.float64)
        parts.append(_array(f"@NAME@_Q_{j}", q, "double"))
        if ties[c]:  # the mirrored interpolation of numpy/scikit-learn at ties
            parts.append(_array(f"@NAME@_QM_{j}", -q[::-1], "double"))
    if any(ties.values()):
        parts.append(_array("@NAME@_RM", -np.asarray(pre.references)[::-1], "double"))
    for k, (kernel, bias, _) in enumerate(hidden):
        kp, bp = _padded(kernel, bias, len(pre.features) if k == 0 else wp, wp)
        parts.append(_array(f"@NAME@_W{k}", kp) + _array(f"@NAME@_B{k}", bp))
    width = hidden[0][0].shape[1]
    parts.append(_array("@NAME@_WOUT", np.pad(k_out[:, 0], (0, wp - width))))
    parts.append(f"static const float @NAME@_BOUT = {float(b_out[0]):.9e}f;\n")
    return "".join(parts)


def _preprocess(pre, ties: dict) -> str:
    n_ref = len(pre.references)
    lines = ["static void @NAME@_preprocess(const float *raw, float *x)\n{\n    double u;\n"]
    for j, c in enumerate(pre.features):
        shown = f"feature {j}: {comment_text(c)}"
        if c not in pre.quantiles:
            lines.append(f"    x[{j}] = raw[{j}];  /* {shown}, a flag, passed through */\n")
            continue
        lines.append(
            f"    u = @NAME@_interp((double)raw[{j}], @NAME@_Q_{j}, @NAME@_REFERENCES, {n_ref});"
            f"  /* {shown} */\n"
        )
        if ties[c]:
            lines.append(
                f"    u = 0.5 * (u - @NAME@_interp(-(double)raw[{j}], @NAME@_QM_{j}, @NAME@_RM, "
                f"{n_ref}));\n"
            )
        lines.append(
            f"    u = u < {CLIP!r} ? {CLIP!r} : (u > 1.0 - {CLIP!r} ? 1.0 - {CLIP!r} : u);\n"
            f"    x[{j}] = (float)@NAME@_ndtri(u);\n"
        )
    lines.append("}\n")
    return "".join(lines)


def _forward(hidden: list, acts: list, n_features: int, wp: int) -> str:
    code = acts.index
    blocks = "".join(
        f"    @NAME@_dense_##P(h, {wp}, t, {wp}, @NAME@_W{k}, @NAME@_B{k}, {code(a)}, h); "
        "{ float *s = h; h = t; t = s; } \\\n"
        for k, (_, _, a) in enumerate(hidden[1:], start=1)
    )
    return (
        "#define @NAME@_FORWARD(P) \\\n"
        "static void @NAME@_forward_##P(const float *raw, float *out) \\\n{ \\\n"
        f"    float x[P * {n_features}], h0[P * {wp}], t0[P * {wp}]; \\\n"
        "    float *h = h0, *t = t0; \\\n"
        "    for (int q = 0; q < P; q++) \\\n"
        f"        @NAME@_preprocess(raw + q * {n_features}, x + q * {n_features}); \\\n"
        f"    @NAME@_dense_##P(x, {n_features}, h, {wp}, @NAME@_W0, @NAME@_B0, "
        f"{code(hidden[0][2])}, NULL); \\\n"
        f"{blocks}"
        "    for (int q = 0; q < P; q++) { \\\n"
        "        float z = @NAME@_BOUT; \\\n"
        f"        for (int j = 0; j < {wp}; j++) z += h[q * {wp} + j] * @NAME@_WOUT[j]; \\\n"
        "        out[q] = (float)(1.0 / (1.0 + exp(-(double)z))); \\\n"
        "    } \\\n"
        f"}}\n@NAME@_FORWARD(1)\n@NAME@_FORWARD({PARTICLES})\n#undef @NAME@_FORWARD\n\n"
        "float *@NAME@(float *output, const float *input)\n{\n"
        "    @NAME@_forward_1(input, output);\n    return output;\n}\n\n"
        "float *@NAME@_batch(float *output, const float *input, int n)\n{\n"
        "    int p = 0;\n"
        f"    for (; p + {PARTICLES} <= n; p += {PARTICLES})\n"
        f"        @NAME@_forward_{PARTICLES}(input + (size_t)p * {n_features}, output + p);\n"
        f"    for (; p < n; p++) @NAME@_forward_1(input + (size_t)p * {n_features}, output + p);\n"
        "    return output;\n}\n"
    )


def _header(name: str, n_features: int, pre) -> str:
    upper = name.upper()
    features = ", ".join(comment_text(c) for c in pre.features)
    literals = ", ".join(string_literal(c) for c in pre.features)
    return (
        f"#ifndef {upper}_H\n#define {upper}_H\n"
        f"/* The acceptance model: raw features ({features}) -> probability. */\n"
        f"#define {upper}_N_FEATURES {n_features}\n"
        f"/* the features' names, in input order: const char *names[] = {upper}_FEATURE_NAMES; */\n"
        f"#define {upper}_FEATURE_NAMES {{{literals}}}\n"
        '#ifdef __cplusplus\nextern "C" {\n#endif\n'
        f"/* one particle: input[{n_features}] raw features, output[1]; returns output */\n"
        f"float *{name}(float *output, const float *input);\n"
        f"/* n particles, row-major input[n][{n_features}], output[n]; returns output */\n"
        f"float *{name}_batch(float *output, const float *input, int n);\n"
        "#ifdef __cplusplus\n}\n#endif\n#endif\n"
    )
