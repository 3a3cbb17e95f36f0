"""The optuna.db mirror reads records as data (issue 35): one hostile record is skipped
with a warning naming it, the others are mirrored, and a NaN or infinite objective is
mirrored as FAIL (never Optuna's best trial)."""

from __future__ import annotations

import json
import math

import optuna
import pytest

from study.store import optuna_mirror
from study.testing.scripted import write_study

Done = optuna.trial.TrialState
OSC52 = "\x1b]52;c;SGVsbG8=\x07"


def _edit(path, **changes) -> None:
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record))


def _mirrored(study_dir) -> dict:
    storage = optuna_mirror.storage_url(study_dir)
    study = optuna.load_study(study_name=study_dir.name, storage=storage)
    return {t.user_attrs["trial_id"]: t for t in study.trials}


@pytest.fixture
def study_dir(tmp_path):
    return write_study(tmp_path, "s", ["COMPLETED"] * 5)


def test_1_a_record_with_a_field_that_is_no_number_is_skipped_with_a_warning(study_dir, caplog):
    trials = study_dir / "trials"
    _edit(trials / "1" / "report.json", objective="0.1; DROP TABLE trials")
    _edit(trials / "2" / "report.json", finished_at="soon")
    _edit(trials / "3" / "report.json", epochs_1=[1], trial_id={"x": 1})
    assert optuna_mirror.Mirror(study_dir).sync() == 2
    for n, field in ((1, "objective"), (2, "finished_at"), (3, "epochs_1")):
        kind = "a whole number" if field == "epochs_1" else "a number"
        assert f"trials/{n}/report.json: {field} is not {kind}" in caplog.text
    assert sorted(_mirrored(study_dir)) == ["0", "4"]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_2_a_nan_or_infinite_objective_is_mirrored_as_fail_never_best(study_dir, value):
    _edit(study_dir / "trials" / "2" / "report.json", objective=value)
    assert optuna_mirror.Mirror(study_dir).sync() == 5
    trials = _mirrored(study_dir)
    assert trials["2"].state == Done.FAIL and trials["2"].value is None
    assert trials["2"].user_attrs["objective"] == str(value)
    study = optuna.load_study(study_name="s", storage=optuna_mirror.storage_url(study_dir))
    assert study.best_trial.user_attrs["trial_id"] != "2" and math.isfinite(study.best_value)


def test_3_a_history_that_is_no_number_leaves_its_trial_without_a_curve(study_dir, caplog):
    history = study_dir / "trials" / "1" / "history.csv"
    history.write_text("epoch,phase,learning_rate,loss,val_bce,seconds\n0,1,1e-3,0.2,abc,0.5\n")
    assert optuna_mirror.Mirror(study_dir).sync() == 5
    assert "history.csv: line 2: a value that is no number; not read" in caplog.text
    trials = _mirrored(study_dir)
    assert trials["1"].intermediate_values == {} and trials["1"].state == Done.COMPLETE
    assert len(trials["0"].intermediate_values) > 0


def test_4_a_hostile_trial_id_is_an_attribute_and_its_warning_escaped(study_dir, caplog):
    _edit(study_dir / "trials" / "4" / "report.json", trial_id=f"4{OSC52}")
    assert optuna_mirror.Mirror(study_dir).sync() == 5
    assert f"4{OSC52}" in _mirrored(study_dir)  # data in the database, as written
    assert "\x1b" not in caplog.text and "mirrored without its curve" in caplog.text
