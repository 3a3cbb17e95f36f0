"""One writer per study: `results/<study>/.lock`, held with flock while the process lives.

The kernel drops an flock when its holder exits or is killed, so a lock whose
holder is gone is free again without any clean-up; the pid and host written in
the file only serve the message shown to a second process. On NFS, Linux maps
flock onto POSIX byte-range locks, which hold across clients.

The file is opened with O_NOFOLLOW and must be a plain file: a `.lock` that another
user planted as a symbolic link (to a file of the study's owner, which the lock would
truncate) or a FIFO is refused with a DataError, its target untouched. `open_plain` and
`check_plain` (a file and those beside it, such as SQLite's journals) are the store's
openers of such files.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import stat
import time
from pathlib import Path

from study.errors import DataError, StudyInUse

log = logging.getLogger(__name__)
NAME = ".lock"
SQLITE_SIDES = ("-journal", "-wal", "-shm")  # files SQLite keeps beside a database


class StudyLock:
    """Hold with `with StudyLock(study_dir):`; a second holder gets a ConfigError."""

    def __init__(self, study_dir: Path):
        self.path = Path(study_dir) / NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = open_plain(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise StudyInUse(
                f"{self.path.parent}: study in use by pid {holder.get('pid', '?')} on host "
                f"{holder.get('host', '?')} (since {holder.get('since', '?')}); "
                "wait for it to end or stop it, or use another --study"
            ) from None
        previous = _read(fd)
        if previous:
            log.info(
                "taking over the lock of %s from pid %s on host %s, which is gone",
                self.path.parent,
                previous.get("pid", "?"),
                previous.get("host", "?"),
            )
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # an empty file: nobody to take over from
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def open_plain(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open of `path` that never follows a symbolic link and opens only a plain file
    (never blocking on a FIFO); a DataError names the path otherwise."""
    flags |= os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, mode)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.EMLINK) or Path(path).is_symlink():
            raise DataError(f"{path}: a symbolic link; refused (remove it)") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DataError(f"{path}: not a plain file; refused (remove it)")
    os.set_blocking(fd, True)
    return fd


def check_plain(path: Path, sides: tuple[str, ...] = SQLITE_SIDES) -> int | None:
    """The inode of `path` (None if absent); a DataError if it or a file beside it named
    `path` + one of `sides` (by default those SQLite keeps beside a database) is a symbolic
    link or not a plain file."""
    inode = None
    for name in ("", *sides):
        side = path.with_name(path.name + name)
        try:
            info = side.lstat()
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(info.st_mode):
            kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a plain file"
            raise DataError(f"{side}: {kind}; refused (remove it)")
        inode = info.st_ino if not name else inode
    return inode


def _read(fd: int) -> dict:
    try:
        text = os.pread(fd, 4096, 0).decode()
        record = json.loads(text) if text.strip() else {}
    except (OSError, ValueError, RecursionError):
        return {}
    return record if isinstance(record, dict) else {}


def lock_holder(study_dir: Path) -> dict | None:
    """The process holding the study's lock, read from `.lock` without touching the lock.

    The holder writes its pid and host into the file and empties it on release; a
    killed holder leaves its record, so on this host the pid is checked to be alive.
    A holder on another host is taken at its word.
    """
    try:
        fd = open_plain(Path(study_dir) / NAME, os.O_RDONLY)
    except (OSError, DataError):
        return None
    try:
        record = _read(fd)
    finally:
        os.close(fd)
    if not record or "pid" not in record:
        return None
    if record.get("host") == socket.gethostname():
        try:
            os.kill(int(record["pid"]), 0)
        except (ProcessLookupError, ValueError, TypeError, OverflowError):
            return None  # gone, or no pid at all
        except PermissionError:
            pass  # alive, owned by another user
    return record
