"""`study.run`'s progress in Jupyter: a tqdm bar over the trials, then one over the final
fit's epochs, in place of the per-epoch log lines (up to ~1,000 of them in a study).

The search logs its progress lines on `study.search.progress` (a trial's start, each
epoch, a pruning, its end) and the final fit each epoch on `study.best.pipeline`
(`on_epoch`). While `notebook_progress` is entered in an IPython kernel, a filter on
those two loggers turns their records into bar updates and drops them; every other
line (the retrain's choice, warnings, the export's checks) passes as before, written
above the bars (tqdm's logging redirect), and the final fit's bar ends at the first of
them after its epochs (`study.best.retrain` is watched for that too). Outside a kernel
it does nothing: the terminal and scripts keep their lines.
"""

from __future__ import annotations

import contextlib
import logging
import sys

SEARCH = "study.search.progress"
FINAL = "study.best.pipeline"
FINAL_EPOCH = "on_epoch"  # the final fit's per-epoch callback (study/best/pipeline.py)
RETRAIN = "study.best.retrain"  # its first line after the epochs ends the final fit's bar


def in_kernel() -> bool:
    """Whether this runs in an IPython kernel (Jupyter, VS Code, Colab), not a terminal."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def widgets() -> bool:
    """Whether tqdm can draw Jupyter's widget (ipywidgets is installed)."""
    import importlib.util

    return importlib.util.find_spec("ipywidgets") is not None


def bar_class():
    """tqdm's bar: Jupyter's widget where ipywidgets is installed, else text on stderr."""
    if widgets():
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm


def bar(**kwargs):
    """A progress bar (`bar_class`)."""
    return bar_class()(**kwargs)


def quiet_tqdm_auto() -> None:
    """Import tqdm.auto without its warning that ipywidgets is missing (Optuna imports it
    during the study; the study's own bars are text then, as the warning would say)."""
    import warnings

    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        import tqdm.auto  # noqa: F401


class Bars(logging.Filter):
    """Turns the search's and the final fit's progress records into two bars."""

    def __init__(self, total: int, ended: int, floors: dict[str, int]):
        super().__init__()
        self.total, self.ended, self.floors = total, ended, floors
        self.trials = self.final = None
        self.epochs = 0
        self.trial = ""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a progress record (a bar shows it); else whether it passes the
        logger's level as it was before the run."""
        if record.name == SEARCH:
            self._search(record)
            return False
        if record.name == FINAL and record.funcName == FINAL_EPOCH:
            self._final_epoch(record)
            return False
        self.close_trials()  # the search is over once the final fit's lines begin
        if self.final is not None:
            self.final.close()  # and its epochs once another line follows them
        return record.levelno >= self.floors.get(record.name, logging.NOTSET)

    def _search(self, record: logging.LogRecord) -> None:
        if self.trials is None:
            self.trials = bar(total=self.total, initial=self.ended, desc="trials", unit="trial")
        if record.funcName == "trial_begin":
            self.trial, self.epochs = record.getMessage().split(":")[0], 0
        elif record.funcName == "epoch":
            self.epochs += 1
        elif record.funcName == "trial_end":
            self.trials.update(1)
            self.trial, self.epochs = record.getMessage().split(" | ")[0], 0
        where = f"{self.trial}, epoch {self.epochs}" if self.epochs else self.trial
        self.trials.set_postfix_str(where.strip())

    def _final_epoch(self, record: logging.LogRecord) -> None:
        if self.final is None:
            self.close_trials()
            self.final = bar(desc="final fit", unit="epoch")
        self.final.update(1)
        self.final.set_postfix_str(" ".join(record.getMessage().split()[1:]))

    def close_trials(self) -> None:
        """End the trials' bar (the search is over)."""
        if self.trials is not None:
            self.trials.close()

    def close(self) -> None:
        """End both bars."""
        self.close_trials()
        if self.final is not None:
            self.final.close()


def ended_trials(study_dir) -> int:
    """The trials of a study's records that have ended (what a resume does not run again)."""
    from study.status import ENDED_REPORTS
    from study.store.records import TrialRecords

    return sum(r.status in ENDED_REPORTS for r in TrialRecords(study_dir).readable_reports())


@contextlib.contextmanager
def notebook_progress(config, overwrite: bool = False):
    """In a kernel, the study's progress as bars while the block runs (the filter
    installed, the two loggers at INFO, the study's other lines written above the bars;
    then all as it was); else nothing. `overwrite`: the study starts afresh."""
    if not in_kernel():
        yield None
        return
    if not widgets():
        quiet_tqdm_auto()  # before tqdm.contrib, which imports it
    from tqdm.contrib.logging import logging_redirect_tqdm

    from study.runner import show_progress

    show_progress()  # the study's handler, now: its lines are redirected above the bars
    loggers = [logging.getLogger(name) for name in (SEARCH, FINAL, RETRAIN)]
    levels = {lg.name: lg.level for lg in loggers}
    floors = {lg.name: lg.getEffectiveLevel() for lg in loggers}
    bars = Bars(config.trials, 0 if overwrite else ended_trials(config.study_dir), floors)
    for lg in loggers:
        lg.setLevel(min(floors[lg.name], logging.INFO))
        lg.addFilter(bars)
    try:
        with logging_redirect_tqdm([logging.root, logging.getLogger("study")], bar_class()):
            yield bars
    finally:
        for lg in loggers:
            lg.removeFilter(bars)
            lg.setLevel(levels[lg.name])
        bars.close()
