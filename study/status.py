"""The status of a trial, one definition for every record that carries it.

The members are strings (a `StrEnum`): they are written as-is into report.json,
trials.csv and keras-tuner's trial.json, and compare equal to the strings read back.
keras-tuner's own statuses (RUNNING, COMPLETED, FAILED, INVALID, STOPPED) keep its
spelling; PRUNED, INTERRUPTED and KILLED are the study's.
"""

from __future__ import annotations

from enum import StrEnum


class TrialStatus(StrEnum):
    RUNNING = "RUNNING"  # training now (or, read from a study that is not running, killed)
    COMPLETED = "COMPLETED"
    PRUNED = "PRUNED"  # stopped early by the pruner or a Hyperband rung: counted as ended
    FAILED = "FAILED"  # crashed, diverged or raised; not retried
    INVALID = "INVALID"  # keras-tuner's: a model it could not build
    STOPPED = "STOPPED"  # keras-tuner's: asked to stop (a promoted rung, a lost worker)
    INTERRUPTED = "INTERRUPTED"  # a signal stopped the study during this trial; re-run on resume
    KILLED = "KILLED"  # RUNNING in the records of a study whose process is gone
    UNKNOWN = "UNKNOWN"  # a record without a status


# keras-tuner's trials that need no further run (its oracle's view)
ENDED = frozenset({TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.INVALID})
# report.json statuses of trials that ended (their wall time counts in the budget's estimate)
ENDED_REPORTS = frozenset({TrialStatus.COMPLETED, TrialStatus.PRUNED, TrialStatus.FAILED})
