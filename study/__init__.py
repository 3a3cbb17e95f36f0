"""The acceptance study: find, train, validate and export the acceptance model of a fast
detector simulation. The command line (`run_study.py`) and this small API run the same
pipeline; in a notebook:

    import study
    s = study.run(trials=20, time_budget="20m")      # search, retrain, validate, export
    s = study.open("results/default")                 # or open a finished (or running) one
    s                                                 # a summary (HTML in Jupyter)
    s.trials                                          # one row per trial (pandas, Optuna's columns)
    s.best                                            # the search's best trial (TrialReport)
    s.final                                           # the exported model's trial, its test
                                                      #   metrics and validation (Final)
    s.learning_curves(); s.importances()              # matplotlib Figures
    s.final.validation_figure()                       # the validation's worst bins
    s.optuna()                                        # the optuna.Study of its trials
    model = s.model()                                 # the export, loaded
    p = model.predict(s.test_data())                  # raw physical features -> probability
    s.report()                                        # results/<study>/report/index.html
    study.compare(["default", "other:3"])             # side by side

The final fit is not always the search's best trial: the default study retrains the
largest network near the best (study/choice.py); `s.final.note` says so, and why.

`run` takes StudyConfig's fields as keywords (docs/reference/config.md); in Jupyter it
shows a progress bar in place of the per-epoch lines.
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

    def _reports(self) -> list:
        from study.store.records import TrialRecords

        return TrialRecords(self.directory).readable_reports()

    @property
    def trials(self):
        """One row per trial, in trial-id order (pandas DataFrame): Optuna's columns
        (`number`, `value`: the objective of a completed trial, `state`: COMPLETE, PRUNED,
        FAIL, RUNNING or WAITING, `datetime_start`, `datetime_complete`, `duration`),
        `params_<name>` for each searched hyperparameter, then the report's fields
        (`trial_id`, `status`, `objective`, epochs, `seconds`, `parameters`, ...)."""
        from study.api.tables import trials_frame
        from study.space import searched, space_from_dict
        from study.store.study_file import read_record

        space = space_from_dict(read_record(self.directory)["search_space"])  # as it ran
        return trials_frame(self._reports(), list(searched(space)))

    @property
    def best(self):
        """The search's best trial: the report (a TrialReport) of the completed trial with
        the lowest objective (None if none). The exported model may be another: `final`."""
        from study.choice import best_trial

        return best_trial(self._reports())

    @property
    def final(self):
        """The final fit (a study.api.final.Final): the trial whose model was retrained,
        validated and exported, its test metrics, validation table and figures, and a
        `note` where it is not the search's best; None before a final fit."""
        from study.api.final import read_final

        return read_final(self.directory, self.config, self._reports())

    def summary(self) -> str:
        """The study in a few lines: trials, the search's best, the final fit."""
        from study.api.html import study_rows

        reports = self._reports()
        rows = study_rows(self, reports, self.final)
        return "\n".join(f"{label}: {text}" for label, text in rows)

    def _repr_html_(self) -> str:
        from study.api.html import study_rows, table

        return table(study_rows(self, self._reports(), self.final))

    def learning_curves(self, trial=None):
        """A matplotlib Figure of learning curves, phase 2 dashed: by default the
        completed trials' val_bce and the final fit's loss and val_bce side by side;
        `trial` "final" for the final fit alone, or a trial id (or a list of them)."""
        from study.api.figures import learning_curves, trial_curves

        final = self.final if trial in (None, "final") else None
        return learning_curves(trial_curves(self.directory, self._reports(), trial), final)

    def importances(self):
        """A matplotlib Figure of the hyperparameter importances (Optuna's fANOVA over the
        completed trials, as the report has them); with too few trials, the reason."""
        from study.api.figures import importances_figure
        from study.report.analysis import importances
        from study.report.collect import load_study

        found = importances(load_study(self.directory))
        return importances_figure(found.values, found.note)

    def optuna(self):
        """The `optuna.Study` of this study's trials (its mirror, optuna.db), for
        `optuna.visualization` and `trials_dataframe()`; a ConfigError if it has none."""
        from study.api.tables import optuna_study

        return optuna_study(self.directory, self.config.study)

    def test_data(self, rows: int | None = None):
        """The study's test split in physical units, as the export takes it (pandas
        DataFrame: the features, the label and, for the generated sample, the true
        probability); the first `rows` (None: all)."""
        from study.api.tables import test_rows

        return test_rows(self.config, self.directory, rows)

    def report(self) -> Path:
        """Write `<study>/report/` (HTML, Markdown, JSON, figures); the HTML page's path."""
        from study.report import build_report

        return Path(build_report(self.directory).files["html"])

    def model(self, engine: str = "keras"):
        """The final fit's export, loaded for prediction (see `load_export`)."""
        return load_export(self.directory / "best" / "export", engine)


def run(*, retrain: bool = True, report: bool = True, overwrite: bool = False, **fields) -> Study:
    """Run (or resume) a study with StudyConfig's `fields` (e.g. trials=50, study="default",
    data=None for the embedded sample, time_budget="30m", tuner="random"); the pipeline
    the command line runs (study/runner.py): search, then retrain, validate and export
    the chosen trial, then the report, with the same progress lines; in Jupyter, progress
    bars over the trials and the final fit's epochs in place of the per-epoch lines."""
    import time

    from study import signals
    from study.api.progress import notebook_progress
    from study.config import StudyConfig
    from study.runner import run_study

    start = time.monotonic()
    config = StudyConfig.from_dict(fields, "study.run")
    config.check()
    with signals.handling(), notebook_progress(config, overwrite):
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
