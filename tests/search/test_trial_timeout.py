"""A silent trial process is killed after its timeout (--trial-timeout, or one derived from
the ended trials), and record values that lie do not break the derivation."""

from __future__ import annotations

import json
import time

import pytest

from study import faults
from study.cli import main
from study.errors import DataError
from study.search.trial_process import SILENCE_FIRST_S, SILENCE_FLOOR_S, silence_limit
from study.store.records import TrialReport
from study.testing.presets import study_argv


def test_a_hung_trial_process_is_failed_after_its_timeout_and_the_study_goes_on(
    tiny_dataset, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv(faults.VARIABLE, "hang:child-epoch#0")  # trial 0's first epoch hangs
    results = tmp_path / "r"
    begin = time.monotonic()
    code = main(study_argv(tiny_dataset, results, 2, "--no-retrain", "--trial-timeout", "30s"))
    wall = time.monotonic() - begin
    assert code == 0, capsys.readouterr().err
    trials = results / "s" / "trials"
    found = {p.parent.name: json.loads(p.read_text()) for p in trials.glob("*/report.json")}
    assert found["0"]["status"] == "FAILED"
    assert "sent nothing for 30 s (--trial-timeout 30 s); killed" in found["0"]["message"]
    assert found["1"]["status"] == "COMPLETED"
    assert wall < 240


def test_the_derived_trial_timeout():
    def report(status, seconds):
        return TrialReport(trial_id="0", status=status, seconds=seconds)

    assert silence_limit(None, []) == SILENCE_FIRST_S == 1800
    assert silence_limit(None, [report("COMPLETED", 4.0)]) == SILENCE_FLOOR_S == 120  # 10 x 4 s
    reports = [report("COMPLETED", 4.0), report("FAILED", 900.0), report("PRUNED", 30.0)]
    assert silence_limit(None, reports) == 300.0  # the failed 900 s trial does not count
    assert silence_limit("90s", reports) == 90.0
    assert silence_limit("1h", []) == 3600.0


def test_record_values_that_lie_do_not_break_the_timeout():
    for v in ("x", True):  # no number: refused as the record is read
        with pytest.raises(DataError, match="report.json: seconds is not a number"):
            TrialReport.from_dict({"trial_id": "0", "status": "COMPLETED", "seconds": v})
    lies = [
        TrialReport.from_dict({"trial_id": "0", "status": "COMPLETED", "seconds": v})
        for v in (1e300, -5, None, 0)
    ]
    assert silence_limit(None, lies) == SILENCE_FIRST_S
    fifty = TrialReport(trial_id="1", status="COMPLETED", seconds=50)
    assert silence_limit(None, [*lies, fifty]) == 500
    assert silence_limit("100000h", []) == 7 * 86400
