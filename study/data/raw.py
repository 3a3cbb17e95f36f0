"""A user's raw feather data: its columns sorted into features, labels, flags and extras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from study.data.checks import DataError, check_column_names, load_definitions


def raw_definitions(
    files: list[Path], label: str, extras: list[str], input_path: Path
) -> dict[str, list[str]]:
    """Features, labels and extras of raw input: definitions.json if present, else inferred."""
    if input_path.is_dir() and (input_path / "definitions.json").exists():
        return load_definitions(input_path)
    from study.data.checks import read_schema

    schema, _ = read_schema(files[0])
    check_column_names(files[0], [label, *extras])  # before they are named in a message
    if label not in schema.names:
        raise DataError(f"{files[0]}: column {label}: label column not found (see --label)")
    for extra in extras:
        if extra not in schema.names:
            raise DataError(f"{files[0]}: column {extra}: declared extra not found")
    skip = {label, *extras}
    features = [f.name for f in schema if f.name not in skip and _is_numeric(f.type)]
    if not features:
        raise DataError(f"{files[0]}: no numeric feature columns besides the label")
    check_column_names(files[0], features)
    return {"features": features, "labels": [label], "extras": list(extras)}


def _is_numeric(kind) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)


def infer_flags(frame: pd.DataFrame, features: list[str], max_values: int = 3) -> list[str]:
    """Columns holding only a few integer values ({0, 1}, {-1, 1}, ...) are flags."""
    flags = []
    for column in features:
        values = np.unique(frame[column].to_numpy(np.float64))
        if len(values) <= max_values and np.all(values == np.round(values)):
            flags.append(column)
    return flags
