"""Fault injection for the resilience tests: kill or break the study at named points.

Set `STUDY_FAULT=ACTION:POINT[@N]` in the environment of a study process; the
N-th time (default the first) that process passes `point(POINT)`, ACTION happens:

- `kill`: SIGKILL to this process (a pre-emption, the OOM killer, a lost node);
- `raise`: a RuntimeError (an exception inside a callback).

Points of the study process: `data` (dataset loaded), `trial-begin`, `phase1`
(each phase-1 epoch reported), `switch` (the first phase-2 epoch), `phase2`
(each later phase-2 epoch), `trial-end` (report written, oracle not yet told),
`save` (an atomic write between its temporary file and the rename), `retrain`
(each retraining epoch), `export` (export written, not yet renamed into place).
Points of a trial's child process: `child-epoch` (each epoch, before reporting).

Without the variable every `point()` is a dictionary lookup and nothing else.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

VARIABLE = "STUDY_FAULT"
_passed: Counter = Counter()


def _spec() -> tuple[str, str, int] | None:
    text = os.environ.get(VARIABLE)
    if not text:
        return None
    action, _, rest = text.partition(":")
    name, _, nth = rest.partition("@")
    return action, name, int(nth or 1)


def point(name: str) -> None:
    """Pass the named point: act if STUDY_FAULT names it and this is the N-th pass."""
    spec = _spec()
    if spec is None or spec[1] != name:
        return
    _passed[name] += 1
    if _passed[name] != spec[2]:
        return
    if spec[0] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if spec[0] == "raise":
        raise RuntimeError(f"fault injected at {name} (pass {spec[2]})")
    raise ValueError(f"{VARIABLE}: unknown action {spec[0]!r} (kill or raise)")
