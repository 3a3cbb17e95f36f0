"""`results/<study>/optuna.db`: the study's ended trials mirrored into an Optuna RDB
storage (SQLite), so that `optuna-dashboard sqlite:///results/<study>/optuna.db` shows a
study of any tuner (keras-tuner's random, Bayesian, Hyperband, or Optuna's) while it runs.

`sync` adds every ended trial (report.json COMPLETED, PRUNED or FAILED) that the storage
does not hold yet: its searched parameters, its value (the objective; none for pruned
and failed trials, as Optuna has it), the validation cross-entropy of every global
epoch as intermediate values, and user attributes (keras-tuner's trial id, epochs of
each phase, wall time, rows a second, FLOPs and estimated C ns a particle). The study
calls it as trials end; `report` calls it too. Nothing reads it back: resume, the report
and the retrain read the trials' records, so the mirror is never a second source of truth.

Any number of processes may mirror one study: which trials the file holds is read from
the file itself (the `trial_id` user attribute), under an flock on `.optuna.lock` beside
it, so each trial is added once. The file is never deleted: a database locked by another
connection is waited for (up to `WAIT_S`, then this write is skipped with a warning); a
file SQLite cannot read (not a database, corrupt, another Optuna's schema) is moved aside
as `optuna.db.torn` (`.torn.1`, ... when taken) and rebuilt from the records; any other
failure (a full disk, no permission) raises, for the caller to warn about.

Records are data: a report.json that is not one (a field that is no number, JSON too
deep) is skipped with a warning, a history.csv that cannot be read leaves its trial
without a curve (a warning), and a COMPLETED trial whose objective is NaN or infinite is
mirrored as FAIL (Optuna's rule for such a value: never the best).

Links are not followed: `.optuna.lock` is opened with O_NOFOLLOW, and `optuna.db` (and
the journal, WAL and shared-memory files SQLite keeps beside it) must be plain files, the
database created with O_NOFOLLOW before SQLite opens it; a symbolic link there (which
would have Optuna's tables written into another database) is a DataError naming it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

import optuna

from study.errors import ConfigError, DataError
from study.names import shown
from study.space import optuna_distributions, space_from_dict
from study.status import TrialStatus
from study.store.lock import check_plain, open_plain
from study.store.records import TrialRecords, TrialReport, finite, id_key, read_history
from study.store.study_file import read_record

log = logging.getLogger(__name__)

FILE = "optuna.db"
LOCK = ".optuna.lock"  # held (flock) while a process reads and adds trials
TORN = ".torn"  # suffix of an unreadable file moved aside
WAIT_S = 60.0  # longest wait for a database another connection holds locked
RETRY_S = 0.5
ATTRIBUTES = (
    "epochs_1", "epochs_2", "switch_epoch", "best_epoch", "epochs", "seconds", "rows_per_second",
    "parameters", "flops_per_particle", "c_ns_estimate", "worker", "message",
)  # fmt: skip
_done = optuna.trial.TrialState
STATES = {
    TrialStatus.COMPLETED: _done.COMPLETE,
    TrialStatus.PRUNED: _done.PRUNED,
    TrialStatus.FAILED: _done.FAIL,
}
_LOCKED = {"SQLITE_BUSY", "SQLITE_LOCKED"}
_UNREADABLE = {"SQLITE_NOTADB", "SQLITE_CORRUPT"}


def storage_url(study_dir: Path) -> str:
    return f"sqlite:///{(Path(study_dir) / FILE).resolve()}"


_mirrors: dict[Path, Mirror] = {}


def sync(study_dir: Path) -> int:
    """Add the ended trials that optuna.db lacks (this process's Mirror of the study);
    return how many were added."""
    key = Path(study_dir).resolve()
    if key not in _mirrors:
        _mirrors[key] = Mirror(study_dir)
    return _mirrors[key].sync()


class Mirror:
    """optuna.db of one study as one process writes it: its engine and Optuna study (whose
    cache reads only the trials added since, by any process) while the file stays the same."""

    def __init__(self, study_dir: Path, wait_s: float = WAIT_S):
        self.study_dir, self.wait_s = Path(study_dir), wait_s
        self.path = self.study_dir / FILE
        self._study: optuna.Study | None = None
        self._storage: optuna.storages.RDBStorage | None = None
        self._inode: int | None = None
        self._thread_lock = threading.Lock()

    def sync(self) -> int:
        """Add the ended trials the file lacks; 0 when it stays locked past `wait_s`."""
        deadline = time.monotonic() + self.wait_s
        with self._thread_lock:
            while True:
                try:
                    with _file_lock(self.study_dir / LOCK, deadline):
                        return self._sync_or_set_aside()
                except (TimeoutError, *_sql_errors()) as err:
                    if not (isinstance(err, TimeoutError) or _kind(err) == "locked"):
                        raise
                    self._close()
                    if time.monotonic() >= deadline:
                        log.warning(
                            "%s: locked by another process for %.0f s; not updated this time "
                            "(the next trial's end tries again)", self.path, self.wait_s
                        )  # fmt: skip
                        return 0
                    time.sleep(RETRY_S)

    def _sync_or_set_aside(self) -> int:
        try:
            return self._sync()
        except _sql_errors() as err:
            if _kind(err) != "unreadable":
                raise
            self._close()
            aside = set_aside(self.path)
            log.warning("%s: unreadable (%s); moved to %s, rebuilt from the records",
                        self.path, _reason(err), aside.name)  # fmt: skip
            return self._sync()

    def _sync(self) -> int:
        study = self._open()
        records = TrialRecords(self.study_dir)
        mirrored = {t.user_attrs.get("trial_id") for t in study.get_trials(deepcopy=False)}
        ended = [
            r for r in records.readable_reports()
            if r.status in STATES and r.trial_id not in mirrored
        ]  # fmt: skip
        ended.sort(key=lambda r: (r.finished_at if finite(r.finished_at) else 0.0,
                                  id_key(r.trial_id)))  # fmt: skip
        added = 0
        for report in ended:
            try:
                trial = frozen_trial(report, _history(records, report), self._distributions)
            except (TypeError, ValueError) as err:  # Optuna's own checks of a hostile record
                log.warning("trial %s: not mirrored (%s)", shown(report.trial_id), _reason(err))
                continue
            study.add_trial(trial)
            added += 1
        return added

    def _open(self) -> optuna.Study:
        """The Optuna study in the file, opened again if the file was replaced since."""
        inode = check_plain(self.path)
        if self._study is not None and inode == self._inode:
            return self._study
        self._close()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        record = read_record(self.study_dir)
        os.close(open_plain(self.path, os.O_RDWR | os.O_CREAT))  # never SQLite through a link
        self._distributions = optuna_distributions(space_from_dict(record["search_space"]))
        timeout = max(min(self.wait_s, 5.0), 0.1)  # SQLite's own wait; `sync` retries past it
        self._storage = optuna.storages.RDBStorage(
            storage_url(self.study_dir), engine_kwargs={"connect_args": {"timeout": timeout}}
        )
        self._study = optuna.create_study(
            study_name=record["config"].get("study", self.study_dir.name),
            storage=self._storage, direction="minimize", load_if_exists=True,
        )  # fmt: skip
        self._inode = check_plain(self.path)
        return self._study

    def _close(self) -> None:
        if self._storage is not None:
            with contextlib.suppress(Exception):
                self._storage.engine.dispose()
        self._study = self._storage = self._inode = None


def _sql_errors() -> tuple[type[BaseException], ...]:
    import sqlalchemy.exc

    return (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.OptunaError, sqlite3.Error,
            RuntimeError)  # fmt: skip


def _chain(err: BaseException | None) -> list[BaseException]:
    """`err` and the errors it was raised from, outermost first."""
    chain: list[BaseException] = []
    while err is not None and all(err is not e for e in chain):
        chain.append(err)
        err = err.__cause__ or err.__context__
    return chain


def _reason(err: BaseException) -> str:
    """The first line of the innermost error (SQLite's own words)."""
    return (str(_chain(err)[-1]).splitlines() or [""])[0]


def _kind(err: BaseException) -> str:
    """The kind of a storage error, "locked", "unreadable" or "other": the SQLite error
    under Optuna's and SQLAlchemy's wrappers, or Optuna's word for a schema it does not
    know."""
    for e in _chain(err):
        name, text = getattr(e, "sqlite_errorname", None) or "", str(e)
        if name in _LOCKED or "database is locked" in text:
            return "locked"
        if name in _UNREADABLE or "file is not a database" in text or "image is malformed" in text:
            return "unreadable"
        if isinstance(e, RuntimeError) and "no longer compatible" in text:
            return "unreadable"
    return "other"


def set_aside(path: Path) -> Path:
    """Rename `path` (and its journal, if any) to `<path>.torn`, or `.torn.N` for the first
    free N; return the new path. Nothing is deleted."""
    aside, n = path.with_name(path.name + TORN), 0
    while aside.exists() or aside.is_symlink():
        n += 1
        aside = path.with_name(f"{path.name}{TORN}.{n}")
    os.rename(path, aside)
    for suffix in ("-journal", "-wal", "-shm"):  # SQLite pairs them by name
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.rename(side, aside.with_name(aside.name + suffix))
    return aside


@contextlib.contextmanager
def _file_lock(path: Path, deadline: float):
    """flock on `path` (created empty), waited for until `deadline` (TimeoutError after)."""
    fd = open_plain(path, os.O_RDWR | os.O_CREAT)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{path}: held by another process") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the flock


def _history(records: TrialRecords, report) -> list:
    """The rows of a trial's history.csv; [] with a warning if they cannot be read."""
    try:
        return read_history(records.trial_dir(report.trial_id) / "history.csv")
    except (ConfigError, DataError, OSError) as err:
        first = (str(err).splitlines() or [""])[0]
        log.warning("%s; trial %s mirrored without its curve", first, shown(report.trial_id))
        return []


def frozen_trial(report: TrialReport, history: list, distributions: dict):
    """The Optuna trial of one ended report.json and its history.csv rows (HistoryRows)."""
    values = report.hyperparameters
    params, outside = {}, {}
    for name, dist in distributions.items():
        if name in values:  # a value outside a space narrowed since: an attribute
            (params if _inside(dist, values[name]) else outside)[name] = values[name]
    state = STATES[report.status]
    attrs = {"trial_id": report.trial_id, "status": str(report.status)}
    attrs.update({k: getattr(report, k) for k in ATTRIBUTES if getattr(report, k) is not None})
    attrs.update({f"outside_space/{k}": v for k, v in outside.items()})
    steps = {
        int(row.epoch): row.val_bce
        for row in history if finite(row.epoch) and finite(row.val_bce)
    }  # fmt: skip
    value = report.objective if state == _done.COMPLETE else None
    if state == _done.COMPLETE and not finite(value):  # none, NaN or infinite: never a best
        state, value = _done.FAIL, None
        attrs["objective"] = str(report.objective)
    return optuna.trial.create_trial(
        state=state,
        value=value,
        params=params,
        distributions={k: distributions[k] for k in params},
        intermediate_values=steps,
        user_attrs=attrs,
    )


def _inside(dist, value) -> bool:
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return value in dist.choices
    try:
        return dist.low <= float(value) <= dist.high
    except (TypeError, ValueError):
        return False
