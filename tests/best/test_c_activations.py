"""Each activation of the generated C, on a sweep of floats, against the exact function:
the accuracy study/best/c_source.py's ACCURACY states, the same on every CPU (no libm's
float functions: the rational tanh in float, gelu and swish in double)."""

import ctypes
import subprocess

import numpy as np
import pytest
from scipy.special import erfc

from study.best import c_export, c_reference, c_source
from study.best.c_runtime import TANH
from study.names import march_flag

EXACT = {
    "tanh": np.tanh,
    "relu": lambda v: np.maximum(v, 0.0),
    "gelu": lambda v: 0.5 * v * erfc(-v / np.sqrt(2.0)),
    "swish": lambda v: v / (1.0 + np.exp(-v)),
}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """The generated activations behind one entry, act_NAME(in, out, n), built as the
    export builds its C (the baseline's flags)."""
    folder = tmp_path_factory.mktemp("activations")
    entries = "".join(
        f"void act_{name}(const float *in, float *out, int n)\n"
        f"{{ for (int k = 0; k < n; k++) {{ const float v = in[k]; "
        f"out[k] = {c_source.ACTIVATIONS[name]}; }} }}\n"
        for name in EXACT
    )
    source = "#include <math.h>\n" + TANH + entries
    (folder / "act.c").write_text(source.replace("@NAME@", "t"))
    cc = c_export.compiler()
    if cc is None:
        pytest.skip("no C compiler")
    flags = [*c_export.FLAGS, *filter(None, [march_flag()])]
    subprocess.run([cc, *flags, "-o", str(folder / "act.so"), str(folder / "act.c"), "-lm"],
                   check=True)  # fmt: skip
    return ctypes.CDLL(str(folder / "act.so"))


def _sweep() -> np.ndarray:
    """Two million floats in [-20, 20] spaced evenly in their bit patterns (every binade
    alike), and the edges."""
    positive = np.linspace(np.float32(1e-30).view(np.int32), np.float32(20).view(np.int32),
                           1_000_000).astype(np.int32).view(np.float32)  # fmt: skip
    return np.concatenate([-positive, positive, np.float32([0.0, 1e-45, 7.9053111, 9.0])])


def _ulps(c: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|c - exact| in units of the float spacing at `exact`."""
    spacing = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    return np.abs(c.astype(np.float64) - exact) / spacing


def _run(library, name: str, x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    pointer = ctypes.POINTER(ctypes.c_float)
    getattr(library, f"act_{name}")(x.ctypes.data_as(pointer), out.ctypes.data_as(pointer),
                                    len(x))  # fmt: skip
    return out


@pytest.mark.parametrize("name", ["gelu", "swish"])
def test_gelu_and_swish_are_within_one_ulp_everywhere(library, name):
    x = _sweep()
    exact = EXACT[name](x.astype(np.float64))
    ulps = _ulps(_run(library, name, x), exact)
    normal = np.abs(exact) > 1e-37  # below it the spacing is a denormal's
    assert ulps[normal].max() <= 1.0
    assert np.mean(ulps[normal] > 0.5) < 1e-4  # correctly rounded nearly everywhere


def test_tanh_stays_within_the_rational_s_bound(library):
    x = _sweep()
    v = x.astype(np.float64)
    tanh = _run(library, "tanh", x)
    assert np.abs(tanh - np.tanh(v)).max() < 4e-7
    assert _ulps(tanh, np.tanh(v)).max() <= 8.0
    assert np.array_equal(tanh, c_reference.tanh_rational(x))  # numpy's copy, bit for bit


def test_relu_is_exact(library):
    x = _sweep()
    assert np.array_equal(_run(library, "relu", x), np.maximum(x, np.float32(0.0)))
