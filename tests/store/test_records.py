"""store/records.py: the report schema round-trips; one rule picks the best trial."""

import json

from study.choice import best_trial
from study.status import TrialStatus
from study.store.records import TrialReport
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
