"""SIGINT and SIGTERM: stop cleanly at a safe point; a second signal exits at once.

The first signal raises `StudyInterrupted` where that is safe: at once while a
trial's child process trains, or outside the search (data generation,
retraining, export: their writes are atomic); inside keras-tuner's bookkeeping it
is deferred to the next trial boundary (`check()`), so oracle state is never
left half-updated. The catcher records the running trial as interrupted, saves
the state and exits 130 (SIGINT) or 143 (SIGTERM). A second signal kills the
running trial's process and exits immediately with the same status.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StudyInterrupted(BaseException):
    """A stop was asked for by a signal. BaseException: keras-tuner must not take it
    for a failed trial (it catches Exception)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class _State:
    pending: int | None = None  # the first signal received, if any
    deferred: int = 0  # >0 inside keras-tuner bookkeeping
    child_pid: int | None = None  # the running trial's process, killed by a second signal


_state = _State()


def _handler(signum, frame) -> None:
    if _state.pending is not None:
        if _state.child_pid:
            with contextlib.suppress(OSError):
                os.kill(_state.child_pid, signal.SIGKILL)
        os._exit(128 + signum)
    _state.pending = signum
    print(
        f"\n{signal.Signals(signum).name}: stopping and saving the study "
        "(send it again to exit at once)",
        file=sys.stderr,
        flush=True,
    )
    if not _state.deferred:
        raise StudyInterrupted(signum)


@contextlib.contextmanager
def handling():
    """Handle SIGINT and SIGTERM inside (main thread only); the old handlers after."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.pending, _state.deferred, _state.child_pid = None, 0, None
    previous = {signum: signal.signal(signum, _handler) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def check() -> None:
    """At a safe point: raise if a signal came while the stop was deferred."""
    if _state.pending is not None:
        raise StudyInterrupted(_state.pending)


@contextlib.contextmanager
def deferred():
    """Signals inside only mark the stop; `check()` at a safe point raises it."""
    _state.deferred += 1
    try:
        yield
    finally:
        _state.deferred -= 1


@contextlib.contextmanager
def interruptible():
    """Signals inside raise at once (inside `deferred()` too): a trial's training."""
    saved, _state.deferred = _state.deferred, 0
    try:
        check()
        yield
    finally:
        _state.deferred = saved


def watch_child(pid: int | None) -> None:
    """The running trial's process, killed by a second signal before exiting."""
    _state.child_pid = pid


def ignore_in_child() -> None:
    """A trial's process leaves signals to the study process, which kills it when needed."""
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    with contextlib.suppress(Exception):  # Linux: die with the study process
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
