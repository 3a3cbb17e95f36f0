"""The study's own per-trial bookkeeping: its records, trials.csv, keras-tuner's state and
the optuna.db mirror (study/store/optuna_mirror.py), timed against the study's wall time.

The records are written on the study's path between two trials (`timed`); the mirror
is written by one background thread (`mirror` returns at once, `flush` waits for it),
so that the next trial starts while SQLite commits. The figures go into
`results/<study>/bookkeeping.json` and the study's last lines, so that the cost of the
records is measured in every study, not guessed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from study.store.atomic import write_json_atomic

log = logging.getLogger(__name__)
FILE = "bookkeeping.json"


class Bookkeeping:
    def __init__(self, study_dir: Path):
        self.study_dir = Path(study_dir)
        self.start = time.perf_counter()
        self.seconds = 0.0
        self.mirror_seconds = 0.0
        self.mirror_writes = 0
        self._mirror_broken = False
        self._writer: ThreadPoolExecutor | None = None

    @contextlib.contextmanager
    def timed(self):
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - begin

    def mirror(self) -> None:
        """Add the ended trials to optuna.db in the background (`flush` waits)."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="optuna-mirror")
        self._writer.submit(self._sync)

    def flush(self) -> None:
        """Wait for the mirror's writes (on the study's path: counted where `timed`)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def _sync(self) -> None:
        """Add the ended trials to optuna.db; a failure is a warning (once), never the
        study's end: the mirror is for watching, the records are the truth."""
        begin = time.perf_counter()
        try:
            from study.store import optuna_mirror

            optuna_mirror.sync(self.study_dir)
        except Exception as err:  # noqa: BLE001 - the dashboard's copy must not stop a study
            if not self._mirror_broken:
                first = (str(err).splitlines() or [""])[0]
                log.warning("optuna.db not updated: %s: %s", type(err).__name__, first)
            self._mirror_broken = True
        finally:
            self.mirror_seconds += time.perf_counter() - begin
        self.mirror_writes += 1

    def summary(self) -> dict:
        wall = time.perf_counter() - self.start
        return {
            "wall_s": round(wall, 3),
            "bookkeeping_s": round(self.seconds, 3),
            "mirror_s": round(self.mirror_seconds, 3),  # in the background thread
            "mirror_writes": self.mirror_writes,
            "fraction": round(self.seconds / wall, 5) if wall > 0 else 0.0,
        }

    def save(self) -> dict:
        summary = self.summary()
        with contextlib.suppress(OSError):
            write_json_atomic(self.study_dir / FILE, summary)
        return summary


ENDED = ("COMPLETED", "FAILED", "INVALID", "STOPPED")
EVENTS_MAX_BYTES = 64 << 20  # the chief's event log read back at most this far


def _read_events(events: Path | None) -> tuple[set[str], dict[str, str]] | None:
    """From the chief's event log: the trials with an "end" line, and the worker of each
    trial's last start, resume or hand-over. None: no log, or one too large or unreadable."""
    try:
        if events is None or Path(events).stat().st_size > EVENTS_MAX_BYTES:
            return None
        lines = Path(events).read_text(errors="replace").splitlines()
    except OSError:
        return None
    ended, worker = set(), {}
    for line in lines:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            record = json.loads(line)
            trial = str(record.get("trial"))
            if record.get("event") == "end":
                ended.add(trial)
            elif record.get("event") in ("start", "resume", "handover"):
                worker[trial] = str(record.get("worker"))
    return ended, worker


def missing_events(events: Path | None, trials: dict, owners: dict) -> list[dict]:
    """The events a killed chief never wrote (it saves the state, then appends the line):
    a "start" for each trial its saved state gave a worker (`owners`: worker -> trial id)
    with no line naming it, then an "end" for each trial keras-tuner's state has ended
    (`trials`: id -> keras-tuner Trial) without an "end" line, with the worker of its last
    start. No log, or one too large or unreadable, recovers nothing."""
    read = _read_events(events)
    if read is None:
        return []
    ended, worker = read
    starts = {str(t): str(w) for w, t in owners.items() if str(t) not in worker}
    found = [{"event": "start", "trial": t, "worker": w} for t, w in starts.items()]
    return found + [{"event": "end", **e} for e in _ends(trials, ended, {**worker, **starts})]


def _ends(trials: dict, ended: set, worker: dict) -> list[dict]:
    return [
        {"trial": tid, "worker": worker.get(tid, "?"), "status": str(t.status), "score": t.score}
        for tid, t in trials.items()
        if str(t.status) in ENDED and tid in worker and tid not in ended
    ]
