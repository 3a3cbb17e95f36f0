"""Fault points: named places in the study's own code where a test kills or breaks it.

Set `STUDY_FAULT=ACTION:POINT[@N][#TRIAL]` in the environment of a study process; the
N-th time (default the first) that process passes `point(POINT)` (in trial TRIAL only,
where given and the point names its trial), ACTION happens:

- `kill`: SIGKILL to this process (a pre-emption, the OOM killer, a lost node);
- `raise`: a RuntimeError (an exception inside a callback);
- `hang`: sleep forever (a deadlocked library, a stuck filesystem);
- `fail`: `point()` returns True, and the check at that point fails as a wrong result
  would (`c-check`: the compiled C's answers are moved by 1e-3 before they are judged).

Points of the study process: `data` (dataset loaded), `trial-begin`, `phase1`
(each phase-1 epoch reported), `switch` (the first phase-2 epoch), `phase2`
(each later phase-2 epoch), `trial-end` (report written, oracle not yet told),
`save` (an atomic write between its temporary file and the rename), `trial-json`
(keras-tuner wrote a trial's trial.json: at its creation, before oracle.json), `retrain`
(each retraining epoch), `export` (export written, not yet renamed into place),
`c-check` (the compiled C judged).
Points of a trial's child process: `child-epoch` (each epoch, before reporting).

Without the variable every `point()` is a dictionary lookup and nothing else.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

VARIABLE = "STUDY_FAULT"
_passed: Counter = Counter()


def _spec() -> tuple[str, str, int, str | None] | None:
    text = os.environ.get(VARIABLE)
    if not text:
        return None
    action, _, rest = text.partition(":")
    rest, _, trial = rest.partition("#")
    name, _, nth = rest.partition("@")
    return action, name, int(nth or 1), trial or None


def point(name: str, trial: str | None = None) -> bool:
    """Pass the named point (of trial `trial`, if it has one): act if STUDY_FAULT names
    it (and that trial) and this is the N-th pass; True where the action is `fail`."""
    spec = _spec()
    if spec is None or spec[1] != name or spec[3] not in (None, trial):
        return False
    _passed[name] += 1
    if _passed[name] != spec[2]:
        return False
    if spec[0] == "fail":
        return True
    if spec[0] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if spec[0] == "raise":
        raise RuntimeError(f"fault injected at {name} (pass {spec[2]})")
    if spec[0] == "hang":
        while True:
            time.sleep(3600)
    raise ValueError(f"{VARIABLE}: unknown action {spec[0]!r} (kill, raise or hang)")
