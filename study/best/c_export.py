"""The export's compiled C: best/export/c/{NAME.c, NAME.h, NAME.so, build.json}.

`build` writes the source (study/best/c_source.py) and compiles it with the system's
C compiler for a stated baseline CPU, not the building one: Lamarr loads the library on
grid and batch nodes of every generation (`cc -O3 -march=x86-64-v2 -std=c99
-ffp-contract=off -shared -fPIC ... -lm` on x86-64, `-march=armv8-a` on aarch64;
`--c-march native` builds for this CPU alone; the flags are recorded in build.json and the
model card). A missing compiler is one line and the rest of the export goes on.
`CLibrary` loads the library through ctypes (build.json's paths resolved inside c/, else
refused: `read_record`).

`check` judges the C by the network's own float32 arithmetic, not by a fixed tolerance:
on the test split's raw rows, rows outside the fitted range and every combination of the
flags, the C is compared with the exact arithmetic (float64, `c_source.reference`) on
every row, and with a float32 reference in the C's own operation order
(`c_source.c_order_reference`) on the rows where it is farthest from exact plus the first
and last rows; it must agree with that reference within AGREEMENT. Its distance from the
exact arithmetic (which grows with depth, width and the weights) is then the float32
network's own, and is recorded, as is its difference from the SavedModel.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from study import faults
from study.best import c_source
from study.errors import CCheckFailed, DataError, ExportError
from study.names import C_IDENTIFIER, march_flag, shown

log = logging.getLogger(__name__)

FLAGS = ["-O3", "-std=c99", "-ffp-contract=off", "-shared", "-fPIC"]
DIRECTORY = "c"
FAILED = "c-failed-check"  # where a library that failed its check is kept aside
# |C - the float32 reference in its operation order| allowed: 16 ulps of 1.0. The two
# differ only where libm's and numpy's double tanh/erfc/exp/ndtri round a value to the
# other float (about one value in 10^8), moving one unit by one float ulp.
AGREEMENT = 2.0**-20
REFERENCE_ROWS = 2048  # rows at each end, and the C's worst rows, given the float32 reference


def compiler() -> str | None:
    """The C compiler: $CC, else cc, gcc or clang on the PATH (None: none)."""
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def build(model, pre, export_dir: Path, name: str = "acceptance", march: str = "baseline") -> dict:
    """Write and compile the C of `model` behind `pre` into `export_dir/c/` for `march`
    (MARCHES); the build record (compiled: false and the reason where no compiler could
    build it). A network or preprocessing the C cannot represent is refused (DataError)
    before anything is written."""
    try:
        source, header = c_source.generate(model, pre, name)
    except ValueError as err:
        raise DataError(f"{export_dir}: no C export: {err}") from None
    flags = [*FLAGS, *filter(None, [march_flag(march)])]
    out = Path(export_dir) / DIRECTORY
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.c").write_text(source)
    (out / f"{name}.h").write_text(header)
    record = {"name": name, "source": f"{DIRECTORY}/{name}.c", "header": f"{DIRECTORY}/{name}.h"}
    cc = compiler()
    if cc is None:
        log.warning("C export: no C compiler (cc, gcc, clang) found; the source is written, "
                    "the library is not compiled")  # fmt: skip
        record.update(compiled=False, reason="no C compiler on this machine")
    else:
        command = [cc, *flags, "-o", str(out / f"{name}.so"), str(out / f"{name}.c"), "-lm"]
        begin = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            errors = [x for x in done.stderr.splitlines() if "error" in x] or ["?"]
            raise ExportError(f"{out / (name + '.c')}: the C compiler failed: {errors[0]}")
        record.update(
            compiled=True, library=f"{DIRECTORY}/{name}.so", compiler=cc,
            flags=" ".join([*flags, "-lm"]), march=march, target=_target(flags),
            compile_seconds=time.perf_counter() - begin,
            command=f"cc {' '.join(flags)} -o {name}.so {name}.c -lm",
        )  # fmt: skip
    (out / "build.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def _target(flags: list[str]) -> str:
    """The CPUs the library runs on, in words."""
    march = next((f.split("=", 1)[1] for f in flags if f.startswith("-march=")), None)
    if march == "native":
        return "the building CPU only (-march=native)"
    return march or "the compiler's default target"


def read_record(export_dir: Path) -> tuple[dict, Path, Path]:
    """build.json of a compiled export, and the library and header it names, resolved:
    a path outside the export's c/ (absolute, `..`, a link out) or a name that is no C
    identifier is refused (DataError): loading a library runs its code."""
    folder = Path(export_dir) / DIRECTORY
    path = folder / "build.json"
    if not path.exists():
        raise ExportError(f"{export_dir}: no C export (no {DIRECTORY}/build.json)")
    try:
        record = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    name = record.get("name") if isinstance(record, dict) else None
    if not isinstance(name, str) or not C_IDENTIFIER.fullmatch(name):
        raise DataError(f"{path}: name: expected a C identifier, found {shown(name)}")
    if not record.get("compiled"):
        raise ExportError(f"{export_dir}: the C export was not compiled ({record.get('reason')})")
    return record, _inside(path, record, "library"), _inside(path, record, "header")


def _inside(path: Path, record: dict, key: str) -> Path:
    """record[key], a path relative to the export, resolved inside the export's c/."""
    value = record.get(key)
    folder = path.parent.resolve()
    relative = Path(value) if isinstance(value, str) else None
    if relative is None or relative.is_absolute() or ".." in relative.parts:
        raise DataError(f"{path}: {key}: expected a path inside {DIRECTORY}/, found {shown(value)}")
    target = (path.parent.parent / relative).resolve()
    if not target.is_relative_to(folder) or not target.is_file():
        raise DataError(f"{path}: {key}: {shown(value)} is no file inside {folder}")
    return target


def _load_fresh(library: Path):
    """dlopen `library` under a name of its own: the loader returns the library first
    loaded under a path for every later load of that path in the process, so a library
    rebuilt in place (export.tmp/c/ of a second export) would otherwise be the old one."""
    with tempfile.TemporaryDirectory() as tmp:
        alias = Path(tmp) / f"{library.stem}-{os.getpid()}-{time.monotonic_ns()}.so"
        shutil.copyfile(library, alias)
        return ctypes.CDLL(str(alias))  # mapped: the file may go


class CLibrary:
    """A compiled export through ctypes: `predict(raw [N, F])` (the batch entry) and
    `predict_one(raw [F])` (the one-particle entry)."""

    def __init__(self, export_dir: Path):
        record, library, header = read_record(export_dir)
        self.name = record["name"]
        self._lib = _load_fresh(library)
        pointer = ctypes.POINTER(ctypes.c_float)
        self.one = getattr(self._lib, self.name)
        self.one.argtypes, self.one.restype = [pointer, pointer], pointer
        self.batch = getattr(self._lib, f"{self.name}_batch")
        self.batch.argtypes, self.batch.restype = [pointer, pointer, ctypes.c_int], pointer
        self.n_features = self._n_features(header)

    @staticmethod
    def _n_features(header: Path) -> int:
        found = re.search(r"^#define \w+_N_FEATURES (\d+)$", header.read_text(), re.MULTILINE)
        if not found:
            raise DataError(f"{header}: no NAME_N_FEATURES line")
        return int(found.group(1))

    def predict(self, raw) -> np.ndarray:
        raw = np.ascontiguousarray(raw, np.float32)
        if raw.ndim != 2 or raw.shape[1] != self.n_features:
            raise ValueError(f"expected raw features [N, {self.n_features}], found {raw.shape}")
        out = np.empty(len(raw), np.float32)
        pointer = ctypes.POINTER(ctypes.c_float)
        self.batch(out.ctypes.data_as(pointer), raw.ctypes.data_as(pointer), len(raw))
        return out

    def predict_one(self, raw) -> float:
        raw = np.ascontiguousarray(raw, np.float32)
        out = np.empty(1, np.float32)
        pointer = ctypes.POINTER(ctypes.c_float)
        self.one(out.ctypes.data_as(pointer), raw.ctypes.data_as(pointer))
        return float(out[0])


def check_rows(pre, raw: np.ndarray, seed: int = 0) -> np.ndarray:
    """`raw` plus rows outside the fitted range (below the first and above the last
    quantile, and exactly at both) of every continuous feature, and every combination of
    the flags that occurs in `raw` (a particle is one species: a hadron that is also a
    muon is no input), each on copies of the first rows."""
    raw = np.asarray(raw, np.float32)
    base = raw[: min(len(raw), 64)]
    extra = []
    for j, c in enumerate(pre.features):
        if c not in pre.quantiles:
            continue
        q = pre.quantiles[c]
        span = max(q[-1] - q[0], 1.0)
        for value in (q[0] - span, q[0], q[-1], q[-1] + span, q[-1] + 1e3 * span):
            rows = base.copy()
            rows[:, j] = value
            extra.append(rows)
    flags = [pre.features.index(c) for c in pre.flags]
    for combination in np.unique(raw[:, flags], axis=0) if flags else []:
        rows = base.copy()
        rows[:, flags] = combination
        extra.append(rows)
    return np.concatenate([raw, *extra]) if extra else raw


def check(export_dir: Path, raw: np.ndarray, model=None) -> dict:
    """The compiled C of `export_dir` on `raw` (check_rows) against the exact arithmetic
    on every row and the float32 reference in its operation order on the rows where it is
    farthest from exact and the first and last REFERENCE_ROWS (module docstring); raises
    ExportError, naming the worst row, unless they agree within AGREEMENT and the two
    entries agree exactly. Returns the figures (the SavedModel's difference recorded)."""
    from study.data.preprocessing import Preprocessing

    export_dir = Path(export_dir)
    if model is None:
        import keras

        model = keras.models.load_model(export_dir / "model.keras", safe_mode=True)
    pre = Preprocessing.load(export_dir / "preprocessing.json")
    library = CLibrary(export_dir)
    c_batch = library.predict(raw)
    c_one = np.array([library.predict_one(row) for row in raw[:1000]], np.float32)
    if faults.point("c-check"):  # a test's wrong C (study/faults.py)
        c_batch, c_one = c_batch + np.float32(1e-3), c_one + np.float32(1e-3)
    exact = c_source.reference(model, pre, raw)
    c_error = np.abs(c_batch.astype(np.float64) - exact)
    picked = _reference_rows(c_error)
    float32 = c_source.c_order_reference(model, pre, raw[picked])
    disagreement = np.abs(c_batch[picked] - float32)
    saved, against = c_source.float32_reference(export_dir, raw, model)
    figures = {
        "rows": int(len(raw)),
        "c_max_error": float(c_error.max()) if len(raw) else 0.0,
        "reference_rows": int(len(picked)),
        "float32_max_error": float(np.abs(float32 - exact[picked]).max()) if len(raw) else 0.0,
        "max_abs_difference_from_reference": float(disagreement.max()) if len(raw) else 0.0,
        "agreement": AGREEMENT,
        "against": against,
        "max_abs_difference": float(np.abs(c_batch - saved).max()) if len(raw) else 0.0,
        "single_entry_max_abs_difference": float(np.max(np.abs(c_one - c_batch[:1000])))
        if len(raw) else 0.0,
        "activations": {a: c_source.ACCURACY[a] for a in c_source.activations_of(model)},
    }  # fmt: skip
    if not figures["max_abs_difference_from_reference"] <= AGREEMENT:
        worst = int(np.argmax(disagreement))
        row = int(picked[worst])
        raise ExportError(
            f"{export_dir}: the compiled C differs by {disagreement[worst]:.3g} (> "
            f"{AGREEMENT:.3g}) from the float32 arithmetic it implements at row {row} (raw "
            f"{raw[row].tolist()}: C {c_batch[row]:.7f}, float32 reference "
            f"{float32[worst]:.7f}, exact {exact[row]:.7f})"
        )
    if not figures["single_entry_max_abs_difference"] == 0.0:
        raise ExportError(f"{export_dir}: the one-particle and batch C entries differ")
    return figures


def _reference_rows(c_error: np.ndarray) -> np.ndarray:
    """The rows the float32 reference is computed on: the first and last REFERENCE_ROWS
    (the test rows and the out-of-range and flag rows check_rows appends) and the
    REFERENCE_ROWS where the C is farthest from the exact arithmetic."""
    n = len(c_error)
    worst = np.argsort(c_error)[-REFERENCE_ROWS:]
    ends = np.r_[0 : min(n, REFERENCE_ROWS), max(0, n - REFERENCE_ROWS) : n]
    return np.unique(np.concatenate([ends, worst]).astype(np.int64))


def flops_per_particle(model) -> int:
    """Multiply-adds x 2 of the network (the preprocessing's interpolations not counted)."""
    from study.training.shape import Shape

    hidden, _ = c_source.network_layers(model)
    n_inputs, width = hidden[0][0].shape
    return Shape(n_inputs, width, len(hidden) - 1).flops_per_particle


def export_c(
    model, pre, export_dir: Path, raw: np.ndarray, name: str, march: str = "baseline"
) -> dict:
    """Build, check and time the C of the export in `export_dir`: the model card's `c`.
    A failed check raises CCheckFailed with the record (the figures and the message)."""
    record = build(model, pre, export_dir, name, march)
    record["flops_per_particle"] = flops_per_particle(model)
    if not record["compiled"]:
        return record
    rows = check_rows(pre, raw)
    try:
        record["check"] = check(export_dir, rows, model)
    except ExportError as err:
        record.update(check_failed=str(err))
        raise CCheckFailed(str(err), record) from None
    library = CLibrary(export_dir)
    begin = time.perf_counter()
    library.predict(rows)
    record["batch_ns_per_particle"] = (time.perf_counter() - begin) * 1e9 / len(rows)
    single = rows[:1000]
    begin = time.perf_counter()
    for row in single:
        library.predict_one(row)
    record["single_ns_per_particle"] = (time.perf_counter() - begin) * 1e9 / len(single)
    log.info(
        "C export checked (%s): on %d rows (%d outside the fitted range or flag "
        "combinations) %.2e from the exact arithmetic, %.2e from its float32 reference "
        "(<= %.2g), %.2e from the %s; %.0f ns a particle in batches, %.0f ns one particle a "
        "call (ctypes included)",
        record["target"], len(rows), len(rows) - len(raw), record["check"]["c_max_error"],
        record["check"]["max_abs_difference_from_reference"], AGREEMENT,
        record["check"]["max_abs_difference"], record["check"]["against"],
        record["batch_ns_per_particle"], record["single_ns_per_particle"],
    )  # fmt: skip
    return record
