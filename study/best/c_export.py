"""The export's compiled C: best/export/c/{NAME.c, NAME.h, NAME.so, build.json}.

`build` writes the source (study/best/c_source.py) and compiles it with the system's
C compiler (`cc -O3 -march=native -shared -fPIC ... -lm`; the flags are recorded); a
missing compiler is one line and the rest of the export goes on. `CLibrary` loads the
library through ctypes (build.json's paths resolved inside c/, else refused:
`read_record`); `check` compares it with the SavedModel (the Keras model where TensorFlow
is missing) on the test split's raw rows,
rows outside the fitted range and every combination of the flags.
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

from study.best import c_source
from study.errors import DataError, ExportError
from study.names import C_IDENTIFIER, shown

log = logging.getLogger(__name__)

FLAGS = ["-O3", "-march=native", "-std=c99", "-shared", "-fPIC"]
DIRECTORY = "c"


def compiler() -> str | None:
    """The C compiler: $CC, else cc, gcc or clang on the PATH (None: none)."""
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def build(model, pre, export_dir: Path, name: str = "acceptance") -> dict:
    """Write and compile the C of `model` behind `pre` into `export_dir/c/`; the build
    record (compiled: false and the reason where no compiler could build it)."""
    out = Path(export_dir) / DIRECTORY
    out.mkdir(parents=True, exist_ok=True)
    source, header = c_source.generate(model, pre, name)
    (out / f"{name}.c").write_text(source)
    (out / f"{name}.h").write_text(header)
    record = {"name": name, "source": f"{DIRECTORY}/{name}.c", "header": f"{DIRECTORY}/{name}.h"}
    cc = compiler()
    if cc is None:
        log.warning("C export: no C compiler (cc, gcc, clang) found; the source is written, "
                    "the library is not compiled")  # fmt: skip
        record.update(compiled=False, reason="no C compiler on this machine")
    else:
        command = [cc, *FLAGS, "-o", str(out / f"{name}.so"), str(out / f"{name}.c"), "-lm"]
        begin = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            errors = [x for x in done.stderr.splitlines() if "error" in x] or ["?"]
            raise ExportError(f"{out / (name + '.c')}: the C compiler failed: {errors[0]}")
        record.update(
            compiled=True, library=f"{DIRECTORY}/{name}.so", compiler=cc,
            flags=" ".join([*FLAGS, "-lm"]), compile_seconds=time.perf_counter() - begin,
        )  # fmt: skip
    (out / "build.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


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


def check(export_dir: Path, raw: np.ndarray, tolerance: float, model=None) -> dict:
    """The C library against the SavedModel on `raw` (check_rows). Rows where they differ
    by more than `tolerance` send both to the exact arithmetic (`c_source.reference`, with
    `model` or the export's model.keras) on every row: the export fails, naming the C's
    worst row, unless the C's largest error is within `tolerance` or the SavedModel's own
    (`_judge`)."""
    library = CLibrary(export_dir)
    saved, against = c_source.float32_reference(export_dir, raw, model)
    c_batch = library.predict(raw)
    c_one = np.array([library.predict_one(row) for row in raw[:1000]], np.float32)
    difference = np.abs(c_batch - saved)
    figures = {
        "against": against,
        "rows": int(len(raw)),
        "max_abs_difference": float(difference.max()) if len(raw) else 0.0,
        "single_entry_max_abs_difference": float(np.max(np.abs(c_one - c_batch[:1000])))
        if len(raw) else 0.0,
        "rows_above_tolerance": int(np.sum(difference > tolerance)),
    }  # fmt: skip
    if figures["rows_above_tolerance"]:
        _judge(export_dir, raw, c_batch, saved, difference > tolerance, tolerance, model, figures)
    if not figures["single_entry_max_abs_difference"] <= tolerance:
        raise ExportError(f"{export_dir}: the one-particle and batch C entries differ")
    return figures


def _judge(export_dir, raw, c_batch, saved, above, tolerance, model, figures) -> None:
    """C and SavedModel (or Keras model) differ beyond `tolerance` on some rows: both are
    float32 paths, so
    judge both against the exact arithmetic on every row. The export fails, naming the C's
    worst row, unless the C's largest error is within `tolerance` or within the
    SavedModel's own largest error (TensorFlow's float32 path sets the bar)."""
    from study.data.preprocessing import Preprocessing

    against = figures.get("against", "SavedModel")
    export_dir = Path(export_dir)
    if model is None and not (export_dir / "model.keras").exists():
        worst = int(np.argmax(np.abs(c_batch - saved)))
        raise ExportError(
            f"{export_dir}: the compiled C and the {against} differ by "
            f"{figures['max_abs_difference']:.3g} (> {tolerance}) at row {worst} (raw "
            f"{raw[worst].tolist()}: C {c_batch[worst]:.7f}, {against} "
            f"{saved[worst]:.7f}) "
            "and there is no model.keras to judge them by"
        )
    if model is None:
        import keras

        model = keras.models.load_model(export_dir / "model.keras")
    exact = c_source.reference(model, Preprocessing.load(export_dir / "preprocessing.json"), raw)
    c_error, saved_error = np.abs(c_batch - exact), np.abs(saved - exact)
    figures["c_max_error"] = float(c_error.max())
    figures["savedmodel_max_error"] = float(saved_error.max())
    if figures["c_max_error"] > max(tolerance, figures["savedmodel_max_error"]):
        worst = int(np.argmax(c_error))
        raise ExportError(
            f"{export_dir}: the compiled C is {c_error[worst]:.3g} from the exact arithmetic "
            f"at row {worst} (raw {raw[worst].tolist()}: C {c_batch[worst]:.7f}, "
            f"{against} {saved[worst]:.7f}, exact {exact[worst]:.7f}), beyond "
            f"both {tolerance} and the {against}'s largest error "
            f"{figures['savedmodel_max_error']:.3g}; the two "
            f"differ by up to {figures['max_abs_difference']:.3g} on {int(above.sum())} rows"
        )
    log.warning(
        "C export: on %d of %d rows the compiled C and the %s differ by more than "
        "%g (at most %.3g); against the exact arithmetic the C's largest error is %.2g and "
        "the other's %.2g: float32 rounding of this network, the C no worse",
        int(above.sum()), len(raw), against, tolerance, figures["max_abs_difference"],
        figures["c_max_error"], figures["savedmodel_max_error"],
    )  # fmt: skip


def flops_per_particle(model) -> int:
    """Multiply-adds x 2 of the network (the preprocessing's interpolations not counted)."""
    from study.training.shape import Shape

    hidden, _ = c_source.network_layers(model)
    n_inputs, width = hidden[0][0].shape
    return Shape(n_inputs, width, len(hidden) - 1).flops_per_particle


def export_c(model, pre, export_dir: Path, raw: np.ndarray, tolerance: float, name: str) -> dict:
    """Build, check and time the C of the export in `export_dir`: the model card's `c`."""
    record = build(model, pre, export_dir, name)
    record["flops_per_particle"] = flops_per_particle(model)
    if not record["compiled"]:
        return record
    rows = check_rows(pre, raw)
    record["check"] = check(export_dir, rows, tolerance, model)
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
        "C export checked: compiled C vs %s, max |dp| %.2e on %d rows (%d outside "
        "the fitted range or flag combinations); %.0f ns a particle in batches, %.0f ns "
        "one particle a call (ctypes included)",
        record["check"]["against"], record["check"]["max_abs_difference"], len(rows),
        len(rows) - len(raw),
        record["batch_ns_per_particle"], record["single_ns_per_particle"],
    )  # fmt: skip
    return record
