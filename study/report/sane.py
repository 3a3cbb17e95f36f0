"""What a record must hold for the report to show it: numbers where numbers belong,
objects and text where they belong. Records are data anyone with write access to the
results folder may have filled (study/report/collect.py skips what fails here, with a
warning naming the file)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

log = logging.getLogger(__name__)


NUMBERS = (
    "objective",
    "epochs_1",
    "epochs_2",
    "switch_epoch",
    "best_epoch",
    "parameters",
    "flops_per_particle",
    "c_ns_estimate",
    "seconds",
    "finished_at",
    "rows_per_second",
    "epochs",
)  # fmt: skip  (fields of report.json that must be numbers, or absent / null)


def finite(value) -> bool:
    """A number (not a bool) that is neither NaN nor infinite."""
    return number(value) and math.isfinite(value)


def number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def record_problem(report) -> str:
    """What makes a report.json unusable by the report ("" if nothing)."""
    if not isinstance(report, dict):
        return "not a JSON object"
    wrong = [k for k in NUMBERS if report.get(k) is not None and not number(report[k])]
    if wrong:
        return f"{wrong[0]} is not a number"
    if not isinstance(report.get("hyperparameters") or {}, dict):
        return "hyperparameters is not an object"
    if not isinstance(report.get("status", ""), str):
        return "status is not a string"
    return ""


BIN_NUMBERS = (
    "p_low", "p_high", "chi2_ndf", "ndf", "chi2_ndf_binomial", "efficiency_true",
    "efficiency_model",
)  # fmt: skip
BIN_TEXTS = ("particle", "variable")


def json_object(record, key: str) -> dict:
    """`record[key]` where both are JSON objects, else {}."""
    value = record.get(key) if isinstance(record, dict) else None
    return value if isinstance(value, dict) else {}


def usable_bins(path: Path, metrics: dict) -> list[dict]:
    """The kinematic bins of metrics.json whose figures are numbers and whose names are
    text; the others left out with a warning naming the file."""
    bins = metrics.get("kinematic_bins")
    bins = bins if isinstance(bins, list) else []
    usable = [
        m for m in bins
        if isinstance(m, dict) and all(number(m.get(k)) for k in BIN_NUMBERS)
        and all(isinstance(m.get(k), str) for k in BIN_TEXTS)
    ]  # fmt: skip
    if len(usable) < len(bins) or not isinstance(metrics.get("kinematic_bins", []), list):
        log.warning("%s: %d kinematic bins with a field that is not a number (or a name that "
                    "is not text) left out", path, len(bins) - len(usable))  # fmt: skip
    return usable
