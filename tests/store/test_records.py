"""store/records.py: the report schema round-trips, is frozen and read with its fields'
kinds checked (a refused record names its file and key); one rule picks the best trial."""

import dataclasses
import json
import re

import pytest

from study.choice import best_trial
from study.errors import DataError
from study.status import TrialStatus
from study.store.records import TrialRecords, TrialReport
from study.testing.inspect import read_report
from study.testing.scripted import write_study


def test_report_schema_round_trips_what_the_study_writes(tmp_path):
    study_dir = write_study(tmp_path, "s", ["COMPLETED", "FAILED", "PRUNED", "COMPLETED"])
    for path in sorted((study_dir / "trials").glob("*/report.json")):
        raw = json.loads(path.read_text())
        report = TrialReport.from_dict(raw)
        assert report.extra == {}  # every key the writers write is in the schema
        assert report.to_dict() == raw
    report = TrialReport("7", TrialStatus.RUNNING, extra={"later_version": 1})
    assert TrialReport.from_dict(report.to_dict()) == report
    assert "message" not in report.to_dict() and report.to_dict()["later_version"] == 1
    assert read_report(study_dir, "1").status == TrialStatus.FAILED


def test_best_trial_is_the_lowest_completed_objective_ties_to_the_earliest():
    reports = [
        TrialReport("10", "COMPLETED", 0.2), TrialReport("2", "COMPLETED", 0.2),
        TrialReport("3", "PRUNED", 0.1), TrialReport("4", "FAILED", None),
    ]  # fmt: skip
    assert best_trial(reports).trial_id == "2"
    assert best_trial(reports[2:]) is None


def test_a_report_is_frozen_and_its_status_a_trial_status():
    report = TrialReport("7", "COMPLETED", 0.2)
    assert report.status is TrialStatus.COMPLETED
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.objective = 0.1
    changed = dataclasses.replace(report, status="FAILED", message="loss is nan")
    assert changed.status is TrialStatus.FAILED and report.status is TrialStatus.COMPLETED
    assert TrialReport.from_dict({"trial_id": 3}).status is TrialStatus.UNKNOWN  # none said
    assert TrialReport.from_dict({"trial_id": 3, "status": "PRUNED"}).trial_id == "3"


@pytest.mark.parametrize(
    "key,value,words",
    [("status", "DONE", "status 'DONE' is not a trial status"),
     ("status", ["COMPLETED"], "status ['COMPLETED'] is not a trial status"),
     ("trial_id", None, "trial_id None is not text"),
     ("objective", "0.1", "objective is not a number"),
     ("seconds", True, "seconds is not a number"),
     ("parameters", 1.5, "parameters is not a whole number"),
     ("training_rows", -1, "training_rows is not a whole number"),
     ("flops_per_particle", 10**400, "flops_per_particle is not a whole number"),
     ("hyperparameters", ["width", 8], "hyperparameters is not a JSON object"),
     ("rung", "3", "rung is not a JSON object"),
     ("message", 5, "message is not text")],
)  # fmt: skip
def test_a_report_that_cannot_be_read_is_refused_naming_its_file_and_key(
    tmp_path, key, value, words
):
    study_dir = write_study(tmp_path, "s", ["COMPLETED", "COMPLETED"])
    path = study_dir / "trials" / "1" / "report.json"
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, key: value}))
    with pytest.raises(DataError, match=re.escape(f"trials/1/report.json: {words}")):
        TrialRecords(study_dir).reports()
    assert [r.trial_id for r in TrialRecords(study_dir).readable_reports()] == ["0"]
    with pytest.raises(DataError, match=re.escape(f"elsewhere: {words}")):
        TrialReport.from_dict({**raw, key: value}, "elsewhere")
    with pytest.raises(DataError, match="x.json: not a JSON object"):
        TrialReport.from_dict([raw], "x.json")


def test_absent_and_null_fields_read_as_their_defaults():
    report = TrialReport.from_dict(
        {"trial_id": "1", "status": "RUNNING", "seconds": None, "hyperparameters": None}
    )
    assert (report.seconds, report.hyperparameters, report.epochs) == (0.0, {}, 0)
