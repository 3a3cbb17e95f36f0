"""Per-trial records of a study: trials/<id>/report.json, history.csv, and trials.csv.

Every file is written atomically, so a killed study never leaves half a record. Records
are data anyone with write access to the results folder may have filled: `read_json` reads
a plain file (never a link) of at most MAX_BYTES nested at most MAX_DEPTH deep (else a
DataError naming it), `readable_reports` skips a report.json that `record_problem` finds
unusable, with a warning; a linked `trials/` or `trials/<id>/` is never read nor written."""

from __future__ import annotations

import csv
import errno
import io
import json
import logging
import math
import os
import re
import stat
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from study.errors import ConfigError, DataError
from study.names import shown, trial_id_problem
from study.store.atomic import plain_directory, write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)
MAX_DEPTH = 64  # deepest nesting of a record's JSON (a report.json is 3 deep)
MAX_BYTES = 16 * 2**20
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON `text` (strings skipped)."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def read_plain(path: Path) -> bytes:
    """The bytes of `path`, a plain file of at most MAX_BYTES; FileNotFoundError if absent,
    a DataError naming the file for a symbolic link (never followed: its target may be
    another user's file), a FIFO (never blocked on) or a file too large."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise DataError(f"{path}: a symbolic link; not read") from None
        raise
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DataError(f"{path}: not a plain file; not read")
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise DataError(f"{path}: larger than {MAX_BYTES} bytes; not read")
    return raw


def read_json(path: Path, max_depth: int = MAX_DEPTH):
    """The JSON in `path`, read within MAX_BYTES and `max_depth`; FileNotFoundError if
    absent, a one-line DataError naming the file for anything else that is wrong."""
    path = Path(path)
    try:
        text = read_plain(path).decode()
        if json_depth(text) > max_depth:
            raise DataError(f"{path}: JSON nested deeper than {max_depth}; not read")
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        reason = (str(err).splitlines() or ["?"])[0][:120]
        raise DataError(f"{path}: not valid JSON ({reason})") from None


# fields of report.json that must be numbers, or absent / null
NUMBERS = (
    "objective", "epochs_1", "epochs_2", "switch_epoch", "best_epoch", "parameters",
    "flops_per_particle", "c_ns_estimate", "seconds", "finished_at", "rows_per_second",
    "epochs", "training_rows", "validation_rows", "data_seconds", "build_seconds",
)  # fmt: skip


def number(value) -> bool:
    """An int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite(value) -> bool:
    """A number (not a bool) that is neither NaN nor infinite."""
    return number(value) and math.isfinite(value)


def record_problem(report) -> str:
    """What makes a report.json unusable ("" if nothing)."""
    if not isinstance(report, dict):
        return "not a JSON object"
    wrong = [k for k in NUMBERS if report.get(k) is not None and not number(report[k])]
    if wrong:
        return f"{wrong[0]} is not a number"
    if not isinstance(report.get("hyperparameters") or {}, dict):
        return "hyperparameters is not an object"
    texts = {"status": str, "trial_id": (str, int)}
    wrong = [k for k, kind in texts.items() if not isinstance(report.get(k, ""), kind)]
    return f"{wrong[0]} is not text" if wrong else ""


def read_report(path: Path) -> TrialReport:
    """One report.json as a TrialReport; a DataError names the file if it is not one."""
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise DataError(f"{path}: not a JSON object")
    try:
        return TrialReport.from_dict(raw)
    except TypeError as err:
        raise DataError(f"{path}: not a trial report ({err})") from None


HISTORY_COLUMNS = ["epoch", "phase", "learning_rate", "loss", "val_bce", "seconds"]
TABLE_FIXED = [
    "trial_id", "status", "objective", "epochs_1", "epochs_2", "switch_epoch", "best_epoch",
    "seconds", "rows_per_second", "parameters",
]  # fmt: skip


@dataclass
class TrialReport:
    """trials/<id>/report.json: the one schema of a trial's outcome.

    Written by the tuner as a trial starts and ends, by state repair from keras-tuner's
    trial.json, and by the scripted studies of the tests; read by the report, the
    retrain's choice and state repair. Optional fields that are None are left out of
    the file; keys this version does not know are kept in `extra` and written back.
    """

    trial_id: str
    status: str
    objective: float | None = None
    hyperparameters: dict = field(default_factory=dict)
    epochs_1: int | None = None
    epochs_2: int | None = None
    switch_epoch: int | None = None
    best_epoch: int | None = None
    parameters: int | None = None
    flops_per_particle: int | None = None  # the network's, in the deployed C
    c_ns_estimate: float | None = None  # estimated compiled-C ns a particle (training/cost.py)
    seconds: float = 0.0  # wall time of the trial in the study process
    finished_at: float | None = None  # Unix seconds, for ended trials
    rows_per_second: float | None = None
    epochs: int = 0
    rung: dict | None = None  # Hyperband: {"epochs", "initial_epoch", "bracket", "round", ...}
    training_rows: int | None = None
    validation_rows: int | None = None
    worker: str | None = None  # the worker's tuner id in a distributed study
    data_seconds: float | None = None  # loading the data in the trial process
    build_seconds: float | None = None  # building the network there
    message: str | None = None  # the last line of a failed trial's error
    extra: dict = field(default_factory=dict)

    OMITTED_IF_NONE = (
        "rung", "worker", "data_seconds", "build_seconds", "message", "flops_per_particle",
        "c_ns_estimate",
    )  # fmt: skip

    def to_dict(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or (f.name in self.OMITTED_IF_NONE and value is None):
                continue
            out[f.name] = str(value) if f.name == "status" else value
        return {**out, **self.extra}

    @classmethod
    def from_dict(cls, raw: dict) -> TrialReport:
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(
            **{k: v for k, v in raw.items() if k in known},
            extra={k: v for k, v in raw.items() if k not in known},
        )


def write_history(path: Path, history: list) -> None:
    """history.csv: one row per epoch of both phases."""
    out = io.StringIO()
    writer = csv.DictWriter(out, HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in history:
        writer.writerow({k: _fmt(v) for k, v in asdict(record).items()})
    write_text_atomic(Path(path), out.getvalue())


def read_history(path: Path) -> list[dict]:
    """history.csv as dicts of numbers ([] if absent); a DataError names the file and the
    row if it is not a plain file, too large, or holds a value that is no number."""
    try:
        raw = read_plain(Path(path))
    except FileNotFoundError:
        return []
    rows = csv.DictReader(io.StringIO(raw.decode(errors="replace"), newline=""))
    return [_history_row(path, n, row) for n, row in enumerate(rows, 2)]


def _history_row(path: Path, line: int, row: dict) -> dict:
    try:
        return {k: float(v) for k, v in row.items() if v not in ("", None)}
    except (TypeError, ValueError):
        raise DataError(f"{path}: line {line}: a value that is no number; not read") from None


class TrialRecords:
    """Reads and writes the records under `<study_dir>/trials/`."""

    def __init__(self, study_dir: Path):
        self.study_dir = Path(study_dir)
        self.root = self.study_dir / "trials"

    def trial_dir(self, trial_id: str) -> Path:
        """trials/<trial_id>/; the id (from keras-tuner's oracle, possibly a chief's answer)
        must be a plain name: ConfigError for anything that could leave trials/."""
        problem = trial_id_problem(trial_id)
        if problem:
            raise ConfigError(f"trial id {shown(trial_id)}: {problem}")
        return self.root / trial_id

    def plain_trial_dir(self, trial_id: str) -> Path:
        """`trial_dir`, made; a DataError if it or trials/ is a symbolic link."""
        return plain_directory(self.trial_dir(trial_id), self.study_dir)

    def write_history(self, trial_id: str, history: list) -> None:
        write_history(self.plain_trial_dir(trial_id) / "history.csv", history)

    def write_report(self, report: TrialReport) -> None:
        path = self.plain_trial_dir(report.trial_id) / "report.json"
        write_json_atomic(path, report.to_dict())

    def reports(self) -> list[TrialReport]:
        """Every trial's report.json, in trial-id order."""
        return [read_report(p) for p in self._report_paths()]

    def readable_reports(self) -> list[TrialReport]:
        """`reports`, a report.json that cannot be read or used (`record_problem`) skipped
        with a warning naming it."""
        out = []
        for path in self._report_paths():
            try:
                problem = record_problem(read_json(path))
                if problem:
                    raise DataError(f"{path}: {problem}")
                out.append(read_report(path))
            except (DataError, OSError) as err:
                log.warning("%s; skipped", (str(err).splitlines() or [""])[0])
        return out

    def _report_paths(self) -> list[Path]:
        return [d / "report.json" for d in trial_dirs(self.root) if (d / "report.json").exists()]

    def write_table(self) -> Path:
        """Rewrite trials.csv: one row per trial, hyperparameters as columns."""
        reports = [r.to_dict() for r in self.reports()]
        hp_names = sorted({k for r in reports for k in r.get("hyperparameters", {})})
        out = io.StringIO()
        writer = csv.DictWriter(out, TABLE_FIXED + hp_names, lineterminator="\n")
        writer.writeheader()
        for r in reports:
            row = {k: _fmt(r.get(k)) for k in TABLE_FIXED}
            row.update({k: _fmt(v) for k, v in r.get("hyperparameters", {}).items()})
            writer.writerow(row)
        path = self.study_dir / "trials.csv"
        write_text_atomic(path, out.getvalue())
        return path


def trial_dirs(root: Path) -> list[Path]:
    """The folders of trials/ in id order; one that is a symbolic link or whose name is no
    trial id is left out with a warning (a record is never read through a link)."""
    root, out = Path(root), []
    for d in root.iterdir() if root.is_dir() else ():
        if d.is_symlink() or (d.is_dir() and trial_id_problem(d.name)):
            log.warning("%s/%s: a link or no trial id; not read", root, shown(d.name))
        elif d.is_dir():
            out.append(d)
    return sorted(out, key=lambda d: id_key(d.name))


def _fmt(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def id_key(trial_id: str):
    """Trial ids in their number's order (digits first, others after by text)."""
    trial_id = str(trial_id)
    return (0, int(trial_id)) if trial_id.isdigit() else (1, trial_id)
