"""The raw input of `prepare`: feather, parquet or ROOT files, one format per directory.

`input_files` finds the files and their format; `file_columns` lists one file's columns
(a ROOT tree's branches) without reading data: each one's type, which hold one number
per row, and the row count; `read_frame` reads the named columns alone, as pandas.
ROOT files are read through uproot (study/data/root.py), imported only for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from study.data.checks import read_schema
from study.errors import DataError
from study.names import column_name_problem, shown

FORMATS = {
    ".feather": "feather",
    ".arrow": "feather",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".root": "ROOT",
}
LISTED = 40  # names a message lists before it says how many there are


def listed(names: list[str]) -> str:
    """`'a', 'b', ...` for a message: at most LISTED names, each shown safely."""
    text = ", ".join(shown(n) for n in names[:LISTED])
    return text + (f", ... ({len(names)} in all)" if len(names) > LISTED else "")


def input_files(path: Path) -> tuple[list[Path], str]:
    """The input files of `path` (a file, or a directory's files, sorted) and their format."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_file():
        if path.suffix.lower() not in FORMATS:
            raise DataError(
                f"{path}: expected a .feather/.arrow, .parquet/.pq or .root file, "
                f"found {shown(path.name)}"
            )
        return [path], FORMATS[path.suffix.lower()]
    by_format: dict[str, list[Path]] = {}
    for file in sorted(p for p in path.iterdir() if p.is_file()):
        if file.suffix.lower() in FORMATS:
            by_format.setdefault(FORMATS[file.suffix.lower()], []).append(file)
    if not by_format:
        raise DataError(
            f"{path}: no *.feather files in this directory (nor *.arrow, *.parquet, *.pq or *.root)"
        )
    if len(by_format) > 1:
        found = ", ".join(
            f"{len(f)} {kind} file{'s' * (len(f) > 1)} ({f[0].name}{', ...' * (len(f) > 1)})"
            for kind, f in by_format.items()
        )
        raise DataError(f"{path}: mixed formats: {found}; prepare reads one format per directory")
    [(kind, files)] = by_format.items()
    return files, kind


@dataclass(frozen=True)
class FileColumns:
    """One file's columns (a ROOT tree's branches), in the file's order."""

    path: Path
    types: dict[str, str]  # name -> its type, as the format writes it
    rows: int
    numeric: frozenset[str]  # those holding one number per row
    several: dict[str, str] = field(default_factory=dict)  # numbers, several a row: why not
    tree: str | None = None  # the ROOT tree they belong to

    @property
    def noun(self) -> str:
        return "column" if self.tree is None else "branch"

    @property
    def plural(self) -> str:
        return "columns" if self.tree is None else "branches"

    def at(self, name: str | None = None) -> str:
        """Where a message points: `FILE: column NAME`, `FILE: tree 'T': branch NAME`."""
        where = str(self.path) if self.tree is None else f"{self.path}: tree {shown(self.tree)}"
        return where if name is None else f"{where}: {self.noun} {name}"

    def problem(self, name: str) -> str | None:
        """Why column `name` is not one number per row (None: it is), as a message's tail."""
        if name in self.several:
            return self.several[name]
        if name not in self.numeric:
            return f": not numeric (type {self.types[name]})"
        return None

    def listing(self) -> str:
        """`the file has columns a, b, ...` for a message (at most LISTED names)."""
        names = [shown(n) if column_name_problem(n) else n for n in self.types]
        text = ", ".join(names[:LISTED])
        if len(names) > LISTED:
            text += f", ... ({len(names)} in all)"
        holder = "file" if self.tree is None else "tree"
        return f"the {holder} has {self.plural} {text or '(none)'}"


def file_columns(path: Path, kind: str, tree: str | None = None) -> FileColumns:
    """The columns of one input file of format `kind` (of its tree `tree`, for ROOT)."""
    if kind == "ROOT":
        from study.data.root import root_columns

        return root_columns(path, tree)
    if kind == "parquet":
        schema, rows = _parquet_schema(path)
    else:
        schema, rows = read_schema(path)
    return _arrow_columns(path, schema, rows)


def _parquet_schema(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        schema = file.schema_arrow
        # pandas's own index (a non-default one is stored as a column) is no data column
        index = (schema.pandas_metadata or {}).get("index_columns", [])
        drop = [schema.get_field_index(c) for c in index if isinstance(c, str)]
        for k in sorted((k for k in drop if k >= 0), reverse=True):
            schema = schema.remove(k)
        return schema, file.metadata.num_rows
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"{path}: not a parquet file ({err})") from None


def _arrow_columns(path: Path, schema, rows: int) -> FileColumns:
    import pyarrow as pa

    def one_number(kind) -> bool:
        return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)

    types = {f.name: str(f.type) for f in schema}
    numeric = frozenset(f.name for f in schema if one_number(f.type))
    return FileColumns(Path(path), types, rows, numeric)


def read_frame(path: Path, kind: str, columns: list[str], tree: str | None = None) -> pd.DataFrame:
    """Columns `columns` of one input file (no other column read), as a DataFrame."""
    if kind == "ROOT":
        from study.data.root import root_frame

        return root_frame(path, tree, columns)
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path, columns=columns).to_pandas()
    import pyarrow.feather as pf

    return pf.read_table(path, columns=columns).to_pandas()
