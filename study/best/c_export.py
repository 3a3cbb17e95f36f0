"""The export's compiled C: best/export/c/{NAME.c, NAME.h, NAME.so, build.json}.

`build` writes the source (study/best/c_source.py) and compiles it with the system's
C compiler for a stated baseline CPU, not the building one: Lamarr loads the library on
grid and batch nodes of every generation (`cc -O3 -march=x86-64-v2 -std=c99
-ffp-contract=off -shared -fPIC ... -lm` on x86-64, `-march=armv8-a` on aarch64;
`--c-march native` builds for this CPU alone; the flags are recorded in build.json and the
model card). A missing compiler is one line and the rest of the export goes on.
`CLibrary` loads the library through ctypes (build.json's paths resolved inside c/, else
refused: `read_record`).

`study/best/c_check.py` checks and times it.
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
from study.names import C_IDENTIFIER, march_flag, shown

log = logging.getLogger(__name__)

FLAGS = ["-O3", "-std=c99", "-ffp-contract=off", "-shared", "-fPIC"]
DIRECTORY = "c"
FAILED = "c-failed-check"  # where a library that failed its check is kept aside


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


def flops_per_particle(model) -> int:
    """Multiply-adds x 2 of the network (the preprocessing's interpolations not counted)."""
    from study.training.shape import Shape

    hidden, _ = c_source.network_layers(model)
    n_inputs, width = hidden[0][0].shape
    return Shape(n_inputs, width, len(hidden) - 1).flops_per_particle
