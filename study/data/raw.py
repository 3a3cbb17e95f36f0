"""A user's raw data (feather, parquet or ROOT files, study/data/sources.py): its columns
sorted into features, labels, flags and extras, and checked in every file (`RawInput`,
for prepare); or read whole, with a model's features checked (`raw_frame`, for predict)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from study.data.checks import DataError, check_column_names, check_values, load_definitions
from study.data.sources import FileColumns, file_columns, input_files, read_frame
from study.errors import ConfigError
from study.names import shown


class RawInput:
    """The raw files of `prepare --input` (one format), the columns read from them
    (features, labels, extras: nothing else is read) and their row count, all checked."""

    def __init__(
        self,
        path: Path,
        label: str,
        extras: list[str],
        features: list[str] | None = None,
        flags: list[str] | None = None,
        tree: str | None = None,
    ):
        self.path = Path(path)
        self.files, self.format, self.tree = input_and_tree(self.path, tree)
        first = file_columns(self.files[0], self.format, self.tree)
        self.definitions = raw_definitions(first, label, extras, self.path, features, flags)
        for flag in flags or []:
            if flag not in self.definitions["features"]:
                raise DataError(f"{self.path}: column {flag}: declared flag is not a feature")
        d = self.definitions
        self.columns = d["features"] + d["labels"] + d["extras"]
        self.rows = check_files(self.path, self.files, self.format, self.tree, self.columns)

    @property
    def about(self) -> str:
        """`3 ROOT files, tree 'DecayTree'` for the statistics."""
        files = f"{len(self.files)} {self.format} file{'s' * (len(self.files) > 1)}"
        return files if self.tree is None else f"{files}, tree {shown(self.tree)}"

    def read(self, path: Path) -> pd.DataFrame:
        """The columns of one input file, nothing else read."""
        return read_frame(path, self.format, self.columns, self.tree)


def input_and_tree(path: Path, tree: str | None) -> tuple[list[Path], str, str | None]:
    """The input files of `path`, their format and, for ROOT, the tree to read (`tree`,
    checked, or the file's only one); --tree on other formats is refused."""
    files, kind = input_files(Path(path))
    if kind == "ROOT":
        from study.data.root import choose_tree

        return files, kind, choose_tree(files[0], tree)
    if tree is not None:
        raise ConfigError(f"--tree {shown(tree)}: expected ROOT input, found {kind}")
    return files, kind, None


def value_site(path: Path | str, tree: str | None) -> tuple[str, str]:
    """Where a value message points, and its noun: (`FILE`, "column") or
    (`FILE: tree 'T'`, "branch")."""
    if tree is None:
        return str(path), "column"
    return f"{path}: tree {shown(tree)}", "branch"


def raw_definitions(
    first: FileColumns,
    label: str,
    extras: list[str],
    input_path: Path,
    features: list[str] | None = None,
    flags: list[str] | None = None,
) -> dict[str, list[str]]:
    """Features, labels and extras of raw input: definitions.json if present, else the
    --features columns with the --flags ones, else every numeric column of the first file
    but the label and the extras."""
    if input_path.is_dir() and (input_path / "definitions.json").exists():
        if features is not None:
            raise ConfigError(
                f"--features: expected no definitions.json in {input_path}, found one "
                "(it names the features too; drop one of the two)"
            )
        return load_definitions(input_path)
    check_column_names(first.path, [label, *extras])  # before they are named in a message
    _require(first, label, f"label {first.noun} not found (see --label)")
    for extra in extras:
        _require(first, extra, "declared extra not found")
    skip = {label, *extras}
    if features is None:
        numbers = first.numeric | set(first.several)  # several a row: refused just below
        chosen = [n for n in first.types if n not in skip and n in numbers]
        for name in chosen:
            if name in first.several:
                raise DataError(f"{first.at(name)}{first.several[name]} (see --features)")
        if not chosen:
            raise DataError(f"{first.at()}: no numeric feature columns besides the label")
        check_column_names(first.path, chosen)
    else:
        chosen = _chosen(first, features, flags or [], skip)
    return {"features": chosen, "labels": [label], "extras": list(extras)}


def _chosen(first: FileColumns, features: list[str], flags: list[str], skip: set) -> list[str]:
    """--features, then the --flags columns it lacks: each once, present, no label or extra."""
    if not features:
        raise ConfigError("--features: expected comma-separated column names, found none")
    twice = [n for n in features if features.count(n) > 1]
    if twice:
        raise ConfigError(f"--features: expected each column once, found {shown(twice[0])} twice")
    chosen = features + [f for f in dict.fromkeys(flags) if f not in features]
    check_column_names(first.path, chosen)
    for name in chosen:
        flag = "--features" if name in features else "--flags"
        if name in skip:
            raise ConfigError(f"{flag}: column {name} is the label or an extra, not a feature")
        _require(first, name, f"not found (see {flag})")
    return chosen


def _require(first: FileColumns, name: str, problem: str) -> None:
    if name not in first.types:
        raise DataError(f"{first.at(name)}: {problem}; {first.listing()}")


def check_files(path: Path, files: list[Path], kind: str, tree, columns: list[str]) -> int:
    """Every file has the first one's columns, each listed column holds one number a row;
    returns the row count (which must not be 0)."""
    first, rows = None, 0
    for file in files:
        here = file_columns(file, kind, tree)
        if first is None:
            first = here
        elif here.types != first.types:
            raise DataError(
                f"{here.at()}: schema differs from {first.path.name}: {_difference(first, here)}"
            )
        _check_numbers(here, columns, "listed but absent from the file")
        rows += here.rows
    if rows == 0 and tree is not None:
        where, tail = (files[0], "") if len(files) == 1 else (path, f" in all {len(files)} files")
        raise DataError(f"{where}: tree {shown(tree)} is empty (0 entries){tail}")
    if rows == 0:
        raise DataError(f"{path}: the dataset is empty (0 rows)")
    return rows


def _check_numbers(here: FileColumns, columns: list[str], absent: str) -> None:
    """Each of `columns` is in the file and holds one number a row; a DataError naming
    the first that is not (`absent`: what a missing one is called)."""
    for column in columns:
        if column not in here.types:
            raise DataError(f"{here.at(column)}: {absent}; {here.listing()}")
        problem = here.problem(column)
        if problem:
            raise DataError(f"{here.at(column)}{problem}")


def _difference(a: FileColumns, b: FileColumns) -> str:
    """What differs between two files' columns that are not the same."""
    only = set(a.types) ^ set(b.types)
    if only:
        return f"{a.plural} only in one file: {sorted(only)}"
    name = next(n for n, kind in a.types.items() if b.types[n] != kind)
    return f"{a.noun} {name} is {a.types[name]} vs {b.types[name]}"


def raw_frame(
    path: Path, features: list[str], tree: str | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Every column of raw input that a flat table holds (of a ROOT tree: the branches
    with one number per entry), after checking each file has `features`, each one number
    a row, finite; and the names of the branches left out (several numbers per entry)."""
    files, kind, tree = input_and_tree(path, tree)
    frames, left_out = [], {}
    for file in files:
        here = file_columns(file, kind, tree)
        _check_numbers(here, features, "needed by the model but absent")
        kept = [n for n in here.types if kind != "ROOT" or n in here.numeric]
        left_out.update(dict.fromkeys(n for n in here.types if n not in kept))
        frames.append(read_frame(file, kind, kept, tree))
    frame = pd.concat(frames, ignore_index=True)
    where, noun = value_site(files[0] if len(files) == 1 else Path(path), tree)
    for column in features:
        check_values(where, column, frame[column].to_numpy(np.float64), noun=noun)
    return frame, list(left_out)


def infer_flags(frame: pd.DataFrame, features: list[str], max_values: int = 3) -> list[str]:
    """Columns holding only a few integer values ({0, 1}, {-1, 1}, ...) are flags."""
    flags = []
    for column in features:
        values = np.unique(frame[column].to_numpy(np.float64))
        if len(values) <= max_values and np.all(values == np.round(values)):
            flags.append(column)
    return flags
