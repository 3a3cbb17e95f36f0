"""Input validation: every bad input becomes one DataError line naming file, column, problem.

The CLI turns a DataError into `error: <message>` on stderr and exit status 2,
before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from study.errors import DataError
from study.names import column_name_problem, shown


def load_definitions(split_dir: Path) -> dict[str, list[str]]:
    """Read and check `definitions.json`: lists of column names `features`, `labels`, `extras`."""
    path = Path(split_dir) / "definitions.json"
    if not path.is_file():
        raise DataError(f"{path}: file not found (a split directory needs definitions.json)")
    try:
        raw = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected an object with 'features' and 'labels'")
    out = {}
    for key in ("features", "labels", "extras"):
        value = raw.get(key, [] if key == "extras" else None)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DataError(f"{path}: key '{key}' must be a list of column names, found {value!r}")
        if key != "extras" and not value:
            raise DataError(f"{path}: key '{key}' is empty")
        out[key] = value
    check_column_names(path, out["features"] + out["labels"] + out["extras"])
    unknown = sorted(set(raw) - {"features", "labels", "extras"})
    if unknown:
        raise DataError(f"{path}: unknown key '{unknown[0]}' (expected features, labels, extras)")
    return out


def check_column_names(path: Path, names: list[str]) -> None:
    """Every name is a safe column name (study/names.py): names are data, and the C
    export, the report and the figures write them."""
    for name in names:
        problem = column_name_problem(name)
        if problem:
            raise DataError(f"{path}: column {shown(name)}: not a safe column name ({problem})")


def feather_files(path: Path) -> list[Path]:
    """The feather files of a directory (sorted), or [path] for a single file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_file():
        return [path]
    files = sorted(path.glob("*.feather"))
    if not files:
        raise DataError(f"{path}: no *.feather files in this directory")
    return files


def read_schema(path: Path) -> tuple[pa.Schema, int]:
    """Schema and row count of one Arrow IPC (feather v2) file, without reading its data."""
    try:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            return reader.schema, reader.count_rows()
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"{path}: not an Arrow IPC (feather v2) file ({err})") from None


def check_schemas(files: list[Path], columns: list[str]) -> int:
    """Same schema everywhere, every listed column present and numeric; returns the row count."""
    first, rows = None, 0
    for path in files:
        schema, n = read_schema(path)
        rows += n
        if first is None:
            first = (path, schema)
        elif not schema.equals(first[1]):
            raise DataError(
                f"{path}: schema differs from {first[0].name}: "
                f"{_schema_difference(first[1], schema)}"
            )
        for column in columns:
            if column not in schema.names:
                raise DataError(f"{path}: column {column}: listed but absent from the file")
            kind = schema.field(column).type
            if not (
                pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
            ):
                raise DataError(f"{path}: column {column}: not numeric (type {kind})")
    if rows == 0:
        raise DataError(f"{files[0].parent}: the dataset is empty (0 rows)")
    return rows


def _schema_difference(a: pa.Schema, b: pa.Schema) -> str:
    only_a, only_b = set(a.names) - set(b.names), set(b.names) - set(a.names)
    if only_a or only_b:
        return f"columns only in one file: {sorted(only_a | only_b)}"
    for name in a.names:
        if a.field(name).type != b.field(name).type:
            return f"column {name} is {a.field(name).type} vs {b.field(name).type}"
    return "column order differs"


def check_values(
    path: Path | str, column: str, values: np.ndarray, label: bool = False, noun: str = "column"
) -> None:
    """No NaN or infinity; labels inside [0, 1]. `path` and `noun` say where: a file and its
    column, or `FILE: tree 'T'` and its branch."""
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        kind = "NaN" if np.isnan(values[bad][0]) else "infinite"
        raise DataError(
            f"{path}: {noun} {column}: {int(bad.sum())} {kind} value(s), first at row "
            f"{int(np.flatnonzero(bad)[0])}"
        )
    if label and values.size and (values.min() < 0.0 or values.max() > 1.0):
        raise DataError(
            f"{path}: {noun} {column}: labels must lie in [0, 1], found "
            f"[{values.min():g}, {values.max():g}]"
        )
