"""One exception root: every exception the study defines is a StudyError (study/errors.py),
so that the command line prints it as one line with its exit status, and a failed training
keeps its own kind all the way to the tuner."""

import importlib
import inspect
import pkgutil

import pytest

import study
from study.errors import StudyError, TrainingFailed, UserError

# Exceptions of the package outside StudyError, each with its reason.
OUTSIDE = {
    "study.signals.StudyInterrupted": "a BaseException like KeyboardInterrupt, on purpose: no "
    "`except Exception` may swallow a signal",
}


def _defined_exceptions() -> dict[str, type]:
    """Every BaseException subclass defined at the top of a module of the package."""
    found = {}
    for info in pkgutil.walk_packages(study.__path__, "study."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_exception_of_the_study_is_a_study_error():
    found = _defined_exceptions()
    outside = sorted(n for n, cls in found.items() if not issubclass(cls, StudyError))
    assert outside == sorted(OUTSIDE)
    assert len(found) > 20  # the walk saw the package (errors.py alone defines 12)


def test_a_failed_training_keeps_its_kind_and_stays_a_runtime_error():
    from study.search.budget_hooks import BudgetSpent
    from study.search.trial_process import TrialCrashed, TrialDiverged, TrialSilent
    from study.search.tuner import TrialPruned
    from study.training.phase_logic import NonFiniteLoss

    for kind in (TrialCrashed, TrialDiverged, TrialSilent, NonFiniteLoss):
        assert issubclass(kind, TrainingFailed) and issubclass(kind, RuntimeError)
    assert issubclass(TrialSilent, TrialCrashed)
    assert not issubclass(TrialDiverged, TrialCrashed)  # the tuner tells them apart
    # ending early is no failure: a pruned trial keeps its epochs, a spent budget ends the search
    for kind in (TrialPruned, BudgetSpent):
        assert issubclass(kind, StudyError) and not issubclass(kind, TrainingFailed)
        assert not issubclass(kind, RuntimeError)  # no `except RuntimeError` takes them


def test_the_consecutive_failure_stop_is_still_told_apart_by_its_text():
    from study.search import kt_compat
    from study.search.trial_process import TrialCrashed

    assert not kt_compat.is_failure_stop(TrialCrashed("trial process died (exit code -9)"))
    assert kt_compat.is_failure_stop(RuntimeError("Number of consecutive failures exceeded"))


@pytest.mark.parametrize(
    ("raised", "code", "line"),
    [
        ("NonFiniteLoss", 1, "error: training loss is nan at epoch 3"),
        ("WorkerIdInUse", 2, "error: worker id 'w' is in use"),
    ],
)
def test_the_command_line_prints_them_as_study_errors(raised, code, line, capsys):
    from study.cli.commands import _fail
    from study.search.chief_server import WorkerIdInUse
    from study.training.phase_logic import NonFiniteLoss

    kinds = {"NonFiniteLoss": NonFiniteLoss, "WorkerIdInUse": WorkerIdInUse}
    message = line.removeprefix("error: ")
    assert _fail(kinds[raised](message), debug=False) == code
    assert capsys.readouterr().err == f"{line}\n"
    assert issubclass(WorkerIdInUse, UserError)
