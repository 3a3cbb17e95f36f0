"""Atomic writes: every file and directory of a study appears whole or not at all.

A file is written to a temporary beside it and renamed into place (`write_atomic`,
`write_text_atomic`, `write_json_atomic`); a directory is built beside its target
and swapped in (`swap_directory`). A kill at any moment leaves the old version or
the new one, plus at most a temporary that the next run removes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from study.testing import faults


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


def swap_directory(tmp: Path, directory: Path, old: Path | None = None) -> None:
    """Rename the finished directory `tmp` onto `directory`, the previous one set aside
    as `old` (default `<directory>.old`) and removed once the new one is in place."""
    old = old or directory.with_name(directory.name + ".old")
    if directory.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, directory)
