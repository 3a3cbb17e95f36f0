"""Per-trial records of a study: trials/<id>/report.json, history.csv, and trials.csv.

Every file is written atomically, so a killed study never leaves half a record. Records
are data anyone with write access to the results folder may have filled: `read_json` reads
a plain file (never a link) of at most MAX_BYTES nested at most MAX_DEPTH deep (else a
DataError naming it), `readable_reports` skips a report.json that TrialReport.from_dict
refuses (study/store/trial_report.py), with a warning; a linked `trials/` or
`trials/<id>/` is never read nor written."""

from __future__ import annotations

import csv
import errno
import io
import json
import logging
import os
import re
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from study.errors import ConfigError, DataError
from study.names import shown, trial_id_problem
from study.store.atomic import plain_directory, write_json_atomic, write_text_atomic
from study.store.trial_report import TrialReport, finite, number  # noqa: F401 (theirs, here)

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


def read_report(path: Path) -> TrialReport:
    """One report.json as a TrialReport; a DataError names the file (and the key) if it is
    not one (TrialReport.from_dict)."""
    return TrialReport.from_dict(read_json(path), str(path))


HISTORY_COLUMNS = ["epoch", "phase", "learning_rate", "loss", "val_bce", "seconds"]
TABLE_FIXED = [
    "trial_id", "status", "objective", "epochs_1", "epochs_2", "switch_epoch", "best_epoch",
    "seconds", "rows_per_second", "parameters",
]  # fmt: skip


def write_history(path: Path, history: list) -> None:
    """history.csv: one row per epoch of both phases."""
    out = io.StringIO()
    writer = csv.DictWriter(out, HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in history:
        writer.writerow({k: _fmt(v) for k, v in asdict(record).items()})
    write_text_atomic(Path(path), out.getvalue())


@dataclass(frozen=True)
class HistoryRow:
    """One epoch of a history.csv as read back: each column a number, None where the file
    holds none (a file of an older version, or one filled by hand)."""

    epoch: float | None = None
    phase: float | None = None
    learning_rate: float | None = None
    loss: float | None = None
    val_bce: float | None = None
    seconds: float | None = None


def read_history(path: Path) -> list[HistoryRow]:
    """history.csv's rows ([] if absent; columns it does not know left out); a DataError
    names the file and the row if it is not a plain file, too large, or holds a value that
    is no number."""
    try:
        raw = read_plain(Path(path))
    except FileNotFoundError:
        return []
    rows = csv.DictReader(io.StringIO(raw.decode(errors="replace"), newline=""))
    return [_history_row(path, n, row) for n, row in enumerate(rows, 2)]


def _history_row(path: Path, line: int, row: dict) -> HistoryRow:
    try:
        return HistoryRow(
            **{k: float(v) for k, v in row.items() if k in HISTORY_COLUMNS and v not in ("", None)}
        )
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
        """`reports`, a report.json that cannot be read or used (TrialReport.from_dict)
        skipped with a warning naming it."""
        out = []
        for path in self._report_paths():
            try:
                out.append(read_report(path))
            except (DataError, OSError) as err:
                log.warning("%s; skipped", (str(err).splitlines() or [""])[0])
        return out

    def _report_paths(self) -> list[Path]:
        return [d / "report.json" for d in trial_dirs(self.root) if (d / "report.json").exists()]

    def write_table(self) -> Path:
        """Rewrite trials.csv: one row per trial, hyperparameters as columns."""
        reports = self.reports()
        hp_names = sorted({k for r in reports for k in r.hyperparameters})
        out = io.StringIO()
        writer = csv.DictWriter(out, TABLE_FIXED + hp_names, lineterminator="\n")
        writer.writeheader()
        for r in reports:
            row = {k: _fmt(getattr(r, k)) for k in TABLE_FIXED}
            row.update({k: _fmt(v) for k, v in r.hyperparameters.items()})
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
