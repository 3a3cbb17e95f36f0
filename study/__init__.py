"""The acceptance study: find, train, validate and export the acceptance model of a fast
detector simulation. The command line (`run_study.py`) and this small API run the same
pipeline; in a notebook:

    import study
    s = study.run(trials=20, time_budget="20m")      # search, retrain, validate, export
    s = study.open("results/default")                 # or open a finished (or running) one
    s.trials                                          # one row per trial (pandas)
    s.best                                            # the best trial's report (TrialReport)
    s.report()                                        # results/<study>/report/index.html
    study.compare(["default", "other:3"])             # side by side
    model = s.model()                                 # the export, loaded
    p = model.predict(frame)                          # raw physical features -> probability

`run` takes StudyConfig's fields as keywords (README: Configuration).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["Study", "compare", "load_export", "open", "run"]


class Study:
    """A study's directory, read on demand: its records are read anew at each access."""

    def __init__(self, directory):
        from study.store.study_file import read_config

        self.directory = Path(directory)
        self.config = read_config(self.directory)  # raises if it is not a study

    def __repr__(self) -> str:
        return f"Study({str(self.directory)!r})"

    @property
    def trials(self):
        """One row per trial: id, status, objective, epochs, seconds, parameters and the
        hyperparameters as columns (pandas DataFrame, in trial-id order)."""
        import pandas as pd

        from study.store.records import TrialRecords

        rows = [
            {
                **{k: v for k, v in r.to_dict().items() if k != "hyperparameters"},
                **r.hyperparameters,
            }
            for r in TrialRecords(self.directory).reports()
        ]
        return pd.DataFrame(rows)

    @property
    def best(self):
        """The report (a TrialReport) of the completed trial with the lowest objective
        (None if none)."""
        from study.choice import best_trial
        from study.store.records import TrialRecords

        return best_trial(TrialRecords(self.directory).reports())

    def report(self) -> Path:
        """Write `<study>/report/` (HTML, Markdown, JSON, figures); the HTML page's path."""
        from study.report import build_report

        return Path(build_report(self.directory)["files"]["html"])

    def model(self):
        """The retrained best trial's export, loaded for prediction (see `load_export`)."""
        return load_export(self.directory / "best" / "export")


def run(*, retrain: bool = True, report: bool = True, overwrite: bool = False, **fields) -> Study:
    """Run (or resume) a study with StudyConfig's `fields` (e.g. trials=50, study="default",
    data=None for the embedded sample, time_budget="30m", tuner="random"); the pipeline
    the command line runs (study/runner.py): search, then retrain, validate and export
    the best trial, then the report, with the same progress lines."""
    import time

    from study import signals
    from study.config import StudyConfig
    from study.runner import run_study

    start = time.monotonic()
    config = StudyConfig.from_dict(fields, "study.run")
    config.check()
    with signals.handling():
        run_study(config, retrain=retrain, report=report, overwrite=overwrite, start=start)
    return Study(config.study_dir)


def open(directory) -> Study:  # noqa: A001  (study.open, as in the README)
    """A study of `results/<name>/`."""
    return Study(directory)


def compare(specs: list[str], results="results", output=None) -> Path:
    """Compare studies or `study:trial` pairs under `results`; the HTML page's path."""
    from study.report import compare as compare_trials

    output = Path(output or Path(results) / "compare")
    return Path(compare_trials(list(specs), Path(results), output)["files"]["html"])


def load_export(directory, engine: str = "keras"):
    """An export directory (best/export) loaded for prediction: `.predict(frame or array)`,
    `.features`, `.card` (model_card.json). engine "keras" (the default): model.keras in
    Keras's safe mode, nothing in the export runs; "c": the compiled C library;
    "savedmodel": runs the export's TensorFlow graph (only for exports one trusts)."""
    from study.best.exported import load_export as load

    return load(directory, engine)
