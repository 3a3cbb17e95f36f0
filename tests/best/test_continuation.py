"""The final fit continues from the chosen trial's weights; label smoothing is the study's."""

import csv
import json
import logging
import re

import pytest

from study.cli import main
from study.testing.presets import study_argv, tiny

# every trial on all the rows: the trial's own validation is the final fit's
FLAGS = [*tiny(3), "--search-rows", "0", "--retrain-max-epochs", "2", "--no-report",
         "--retrain-recipe", "full-data"]  # fmt: skip
CONTINUE = [*FLAGS, "--retrain-from", "trial"]
START = re.compile(r"continuing from trial (\w+)'s weights: val_bce ([0-9.]+)")


def _last_phase_best(trial_dir) -> float:
    """The best val_bce of the trial's last phase: the weights it ended with."""
    rows = list(csv.DictReader((trial_dir / "history.csv").open()))
    last = max(int(r["phase"]) for r in rows)
    return min(float(r["val_bce"]) for r in rows if int(r["phase"]) == last)


@pytest.fixture(scope="module")
def continued(tiny_dataset, tmp_path_factory):
    """A one-trial study whose final fit continued from the trial (its log kept)."""
    results = tmp_path_factory.mktemp("continued")
    handler = _Capture()
    logging.getLogger().addHandler(handler)
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.INFO)
    try:
        assert main(study_argv(tiny_dataset, results, 1, flags=CONTINUE)) == 0
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(level)
    return results, "\n".join(handler.lines)


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_the_final_fit_starts_where_the_trial_ended(continued, tiny_dataset, tmp_path, caplog):
    results, text = continued
    found = START.search(text)
    assert found, text[-3000:]
    trial_dir = results / "s" / "trials" / found.group(1)
    assert (trial_dir / "checkpoint" / "state.json").exists()  # kept by the trial process
    # the whole validation split, in both: the same weights give the same cross-entropy
    assert float(found.group(2)) == pytest.approx(_last_phase_best(trial_dir), abs=2e-4)
    history = list(csv.DictReader((results / "s" / "best" / "history.csv").open()))
    from_scratch = tmp_path / "scratch"
    argv = study_argv(tiny_dataset, from_scratch, 1, flags=FLAGS)  # the default
    caplog.set_level(logging.INFO)
    assert main(argv) == 0
    assert not START.search(caplog.text)
    scratch = list(csv.DictReader((from_scratch / "s" / "best" / "history.csv").open()))
    # a tiny net from scratch starts near log 2 (0.69); the continuation near the trial's
    assert float(history[0]["val_bce"]) < float(scratch[0]["val_bce"]) - 0.02
    config = json.loads((results / "s" / "study.json").read_text())["config"]
    assert (config["retrain_from"], config["retrain_recipe"]) == ("trial", "full-data")
    scratch_config = json.loads((from_scratch / "s" / "study.json").read_text())["config"]
    assert scratch_config["retrain_from"] == "scratch"


def test_a_trial_without_weights_is_retrained_from_scratch(continued, tmp_path, caplog):
    import shutil

    shutil.copytree(continued[0] / "s", tmp_path / "s")
    shutil.rmtree(tmp_path / "s" / "best")
    for checkpoint in (tmp_path / "s" / "trials").glob("*/checkpoint"):
        shutil.rmtree(checkpoint)
    caplog.set_level(logging.INFO)
    code = main(["retrain", "--results", str(tmp_path), "--study", "s"])
    assert code == 0
    assert "kept no weights; training from scratch" in caplog.text


def test_label_smoothing_is_recorded_and_fixed_for_the_study(tiny_dataset, tmp_path, capsys):
    argv = study_argv(tiny_dataset, tmp_path, 1, "--no-retrain", flags=FLAGS)
    assert main([*argv, "--label-smoothing", "0.05"]) == 0
    config = json.loads((tmp_path / "s" / "study.json").read_text())["config"]
    assert config["label_smoothing"] == 0.05
    capsys.readouterr()
    code = main([*argv, "--trials", "2", "--label-smoothing", "0.0"])
    assert code != 0
    err = capsys.readouterr().err
    assert "label_smoothing" in err, err
    assert main([*argv, "--trials", "2", "--label-smoothing", "0.05"]) == 0  # same: resumes
    assert len(list((tmp_path / "s" / "trials").glob("*/report.json"))) == 2


def test_label_smoothing_out_of_range_is_refused(tiny_dataset, tmp_path, capsys):
    code = main([*study_argv(tiny_dataset, tmp_path, 1, flags=FLAGS), "--label-smoothing", "0.7"])
    assert code != 0
    assert "label_smoothing: expected a number in [0, 0.5), found 0.7" in capsys.readouterr().err


def test_the_trials_train_phase_1_with_the_study_smoothing():
    from study.training.phase_logic import ScheduleSettings, TwoPhaseSchedule

    settings = ScheduleSettings(
        learning_rate=1e-3,
        label_smoothing_1=0.05,
        decay_2=0.5,
        patience_1=5,
        patience_2=5,
        max_epochs_1=100,
        max_epochs_2=100,
    )
    schedule = TwoPhaseSchedule(settings)
    assert schedule.label_smoothing == 0.05
    schedule.start_phase_2()
    assert schedule.label_smoothing == 0.0
    for value in (0.5, 0.4):  # two epochs of phase 2
        schedule.update(value)
    assert schedule.current_rate == pytest.approx(1e-3 * 0.1 * 0.25)


def test_a_report_whose_trial_id_leaves_trials_is_refused(tmp_path):
    """A results folder from someone else: report.json names a trial id with `..`; the
    continuation does not look for weights outside trials/ but stops with the id named."""
    from study.best.recipe import continue_from_trial
    from study.config import StudyConfig
    from study.errors import ConfigError
    from study.store.records import TrialReport

    config = StudyConfig(results=str(tmp_path), retrain_from="trial")
    forged = TrialReport.from_dict({"trial_id": "../../elsewhere", "status": "COMPLETED"})
    with pytest.raises(ConfigError, match=r"trial id .*\.\."):
        continue_from_trial(config, None, forged)
