"""Atomic writes: every file and directory of a study appears whole or not at all.

A file is written to a temporary beside it and renamed into place (`write_atomic`,
`write_text_atomic`, `write_json_atomic`); a directory is built beside its target
and swapped in (`swap_directory`: the old one renamed to `<name>.old`, the new one
renamed into place, the old one removed). A kill at any moment leaves the old version
or the new one, plus at most a temporary that the next run removes; a kill between
the two renames leaves only `<name>.old`, which `restore_swapped` (called by the next
swap and by the readers of a swapped directory) renames back. A removal that fails
(the old version set aside, or a stale `<name>.old`) is a StateError naming the path,
never silence: a symbolic link there is unlinked, never followed. `plain_directory`
makes the folders below a study's root that a file is written into, refusing one that is
a link (the rename would otherwise land in the folder it points to).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from study import faults
from study.errors import DataError, StateError

log = logging.getLogger(__name__)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_target(path: Path) -> Path:
    """A fresh temporary file beside `path`, with the permissions a plain open() would give."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    return Path(tmp)


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON through a temporary file and a rename: a kill never leaves half a file."""
    path = Path(path)
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write text through a temporary file and a rename."""
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_atomic(path: Path, write) -> None:
    """`write(tmp)` fills a temporary file beside `path`, which is then renamed into place."""
    path = Path(path)
    tmp = atomic_target(path)
    try:
        write(tmp)
        faults.point("save")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def plain_directory(path: Path, root: Path) -> Path:
    """`path`, a folder below `root`, made with its parents from `root` down (`root`
    itself is the caller's); a DataError names the first that is a symbolic link or not
    a directory, checked again after mkdir (a link planted in between)."""
    path, root = Path(path), Path(root)
    parts = path.relative_to(root).parts
    for depth in range(1, len(parts) + 1):
        folder = root.joinpath(*parts[:depth])
        _check_folder(folder)
        try:
            folder.mkdir()
        except FileExistsError:
            pass
        _check_folder(folder)
    return path


def _check_folder(folder: Path) -> None:
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise DataError(f"{folder}: a symbolic link or not a directory; refused (remove it)")


def swap_directory(tmp: Path, directory: Path, old: Path | None = None) -> None:
    """Rename the finished directory `tmp` onto `directory`, the previous one set aside
    as `old` (default `<directory>.old`) and removed once the new one is in place."""
    old = old or directory.with_name(directory.name + ".old")
    restore_swapped(directory, old)
    if directory.exists():
        remove_tree(old)
        os.replace(directory, old)
        os.replace(tmp, directory)
        remove_tree(old)
    else:
        os.replace(tmp, directory)


def remove_tree(path: Path) -> None:
    """Remove `path` (a directory tree, a file or a symbolic link, never what a link points
    to); nothing there is fine; a failure is a StateError naming the path."""
    path = Path(path)
    try:
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
    except OSError as err:
        where = err.filename or path
        raise StateError(f"{path}: cannot be removed ({err.strerror} at {where})") from None


def restore_swapped(directory: Path, old: Path | None = None) -> bool:
    """Undo a swap killed between its two renames: `old` (default `<directory>.old`)
    without `directory` is renamed back; True if it was. With both present, `old` is the
    stale one, left for the next swap to remove once its successor is in place."""
    directory = Path(directory)
    old = old or directory.with_name(directory.name + ".old")
    if directory.exists() or directory.is_symlink() or not old.is_dir() or old.is_symlink():
        return False  # a linked `old` is never put in place (the next swap unlinks it)
    try:
        os.rename(old, directory)
    except FileNotFoundError:  # another process restored it (or swapped) first
        return False
    log.warning("%s: restored from %s (a replace was cut between its renames)", directory, old)
    return True
