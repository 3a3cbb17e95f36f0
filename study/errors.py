"""One exception root for every failure the study reports to its user.

- `UserError` (exit 2): something the user gave or holds is wrong or in use: a bad
  flag or config (`ConfigError`), bad data (`DataError`), a study held by another
  process (`StudyInUse`), a chief that does not answer (`ChiefUnreachable`);
- `StudyStopped` (exit 1): the study stopped before its trials were done;
- `InternalError` (exit 1): a result the study cannot trust or rebuild (an export
  that does not reproduce the trained model, a torn file nothing can repair);
- `CCheckFailed` (exit 3): the export landed whole (model.keras, SavedModel, card) but its
  compiled C failed its check and was set aside in best/export/c-failed-check/;
- `TrainingFailed` (exit 1): one training diverged (`NonFiniteLoss`,
  study/training/phase_logic.py) or its trial's process did (`TrialDiverged`) or died
  (`TrialCrashed`, `TrialSilent`: study/search/trial_process.py). The search records such
  a trial FAILED and goes on (only `max_failures` consecutive ones stop it:
  `StudyStopped`); the final fit's ends the command.

Two more are raised to end something early and caught at once, never shown:
`BudgetSpent` (study/search/budget_hooks.py: no further trial fits the time budget) and
`TrialPruned` (study/search/tuner.py: the oracle stopped the trial; its epochs are its result).
`WorkerIdInUse` (study/search/chief_server.py) is a `UserError` the chief answers to a worker.
`signals.StudyInterrupted` is no `StudyError`: a BaseException like KeyboardInterrupt, so that
no `except Exception` swallows a signal.

The command line prints each as one line (`error: ...`; internal failures add a
hint); `--debug` shows the traceback. Any other exception is a bug: one line, the
hint, and the traceback with `--debug`.
"""

from __future__ import annotations


class StudyError(Exception):
    """The root: `exit_code` is the command's exit status, `hint` an optional second clause."""

    exit_code = 1
    hint = ""


class UserError(StudyError):
    exit_code = 2


class ConfigError(UserError, ValueError):
    """A bad configuration: the message says what was expected and what was found."""


class DataError(UserError):
    """Bad input data: the message names the file, the column and what is wrong."""


class StudyInUse(UserError):
    """Another live process holds the study's lock."""


class ChiefUnreachable(UserError):
    """A worker found no chief, or no study record from one, within its timeout."""


class StudyStopped(StudyError, RuntimeError):
    """The study stopped before its trials were done (too many consecutive failures)."""


class InternalError(StudyError, RuntimeError):
    hint = "rerun with --debug for the traceback"


class ExportError(InternalError):
    """The exported model does not reproduce the trained one."""


class CCheckFailed(ExportError):
    """The compiled C disagrees with the float32 arithmetic it implements; `record` is the
    model card's `c` entry (the figures and the message)."""

    exit_code = 3
    hint = "the export landed without its C library; `run_study.py export` builds it again"

    def __init__(self, message: str, record: dict | None = None):
        super().__init__(message)
        self.record = record or {}


class StateError(InternalError):
    """A torn study file that nothing can rebuild."""

    hint = "the message says which directory to move aside"


class TrainingFailed(StudyError, RuntimeError):
    """A training that failed: a trial (recorded FAILED; the search goes on) or the final fit.
    Still a RuntimeError, as each of them was: code that catches RuntimeError sees them as
    before (the search's loop and oracles re-raise all but keras-tuner's failure stop)."""
