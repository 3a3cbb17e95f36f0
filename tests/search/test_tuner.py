"""Studies on tiny data with tiny models: records, resume, kills, failures."""

import csv
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from study.cli import main
from study.testing.presets import study_argv, tiny

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--no-report", *tiny()]


args = study_argv


def reports(results):
    trials = Path(results) / "s" / "trials"
    return {p.parent.name: json.loads(p.read_text()) for p in trials.glob("*/report.json")}


def history(results, trial_id):
    with open(Path(results) / "s" / "trials" / trial_id / "history.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def three_trials(tiny_dataset, tmp_path_factory):
    results = tmp_path_factory.mktemp("study")
    assert main(args(tiny_dataset, results, 3)) == 0
    # the process started ahead for a fourth trial is gone with the search
    assert multiprocessing.active_children() == []
    return results


def test_three_trials_with_both_phases(three_trials):
    found = reports(three_trials)
    assert sorted(found) == ["0", "1", "2"]
    for trial_id, report in found.items():
        assert report["status"] == "COMPLETED"
        assert 0 <= report["data_seconds"] < 60 and 0 <= report["build_seconds"] < 60
        rows = history(three_trials, trial_id)
        phases = [int(r["phase"]) for r in rows]
        assert phases[0] == 1 and phases[-1] == 2 and phases == sorted(phases)
        switch = phases.index(2)
        assert report["switch_epoch"] == switch == report["epochs_1"]
        assert report["epochs_1"] + report["epochs_2"] == len(rows)
        assert [int(r["epoch"]) for r in rows] == list(range(len(rows)))
        lr1, lr2 = float(rows[0]["learning_rate"]), float(rows[switch]["learning_rate"])
        factor = report["hyperparameters"]["fine_tune_factor"]
        assert lr2 == pytest.approx(lr1 * factor, rel=1e-4)
        assert report["objective"] == pytest.approx(
            min(float(r["val_bce"]) for r in rows), rel=1e-5
        )
        assert report["parameters"] == (12 + 1) * 8 + (8 + 1) * 8 + 8 + 1
    with open(three_trials / "s" / "trials.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [r["trial_id"] for r in table] == ["0", "1", "2"]
    assert {"width", "optimizer", "objective", "switch_epoch", "parameters"} <= set(table[0])


def test_rerun_with_more_trials_adds_exactly_one(three_trials, tiny_dataset, tmp_path):
    import shutil

    results = tmp_path / "copy"
    shutil.copytree(three_trials, results)
    before = {
        t: (results / "s" / "trials" / t / "report.json").read_bytes() for t in ("0", "1", "2")
    }
    assert main(args(tiny_dataset, results, 3)) == 0  # nothing left to do
    assert sorted(reports(results)) == ["0", "1", "2"]
    assert main(args(tiny_dataset, results, 4)) == 0
    found = reports(results)
    assert sorted(found) == ["0", "1", "2", "3"]
    assert all(r["status"] == "COMPLETED" for r in found.values())
    for t, raw in before.items():
        assert (results / "s" / "trials" / t / "report.json").read_bytes() == raw


def test_changed_space_or_data_is_refused(three_trials, tiny_dataset, capsys):
    code = main(args(tiny_dataset, three_trials, 3, "--fix", "optimizer=adam"))
    err = capsys.readouterr().err
    assert code == 2 and "the search space differs" in err and "optimizer" in err
    code = main(args(tiny_dataset, three_trials, 3, "--max-epochs", "4"))
    assert code == 2 and "max_epochs is 4 but this study ran with 3" in capsys.readouterr().err


def test_nan_trial_is_failed_and_study_continues(tiny_dataset, tmp_path, monkeypatch):
    from study.search import tuner

    original = tuner.AcceptanceTuner.run_trial

    def run_trial(self, trial, *a, **k):
        if trial.trial_id == "0":  # a learning rate that overflows the weights
            trial.hyperparameters.values["learning_rate"] = 1e30
        return original(self, trial, *a, **k)

    monkeypatch.setattr(tuner.AcceptanceTuner, "run_trial", run_trial)
    results = tmp_path / "r"
    assert main(args(tiny_dataset, results, 2)) == 0
    found = reports(results)
    assert [found[t]["status"] for t in ("0", "1")] == ["FAILED", "COMPLETED"]
    assert "loss is" in found["0"]["message"] and found["0"]["objective"] is None


def test_pruned_trial_stops_training_and_is_recorded(tiny_dataset, tmp_path, monkeypatch):
    """The oracle answers STOPPED after global epoch 1: the trial process is stopped there."""
    from study.search.optuna_oracle import OptunaOracle

    original = OptunaOracle.update_trial

    def update_trial(self, trial_id, metrics, step=0):
        trial = original(self, trial_id, metrics, step)
        if step == 1:
            self.pruned.add(trial_id)
            trial.status = "STOPPED"
        return trial

    monkeypatch.setattr(OptunaOracle, "update_trial", update_trial)
    results = tmp_path / "r"
    assert main(args(tiny_dataset, results, 1, "--tuner", "tpe", "--prune", "median")) == 0
    report = reports(results)["0"]
    rows = history(results, "0")
    assert report["status"] == "PRUNED" and report["epochs"] == len(rows) == 2
    assert (report["epochs_1"], report["epochs_2"], report["switch_epoch"]) == (2, 0, None)
    assert report["objective"] == pytest.approx(min(float(r["val_bce"]) for r in rows), rel=1e-5)
    table = (results / "s" / "trials.csv").read_text().splitlines()
    assert table[1].startswith("0,PRUNED,")
    oracle = json.loads((results / "s" / "tuner" / "oracle.json").read_text())
    assert oracle["pruned"] == ["0"]


def test_bayesian_tuner_and_config_file(tiny_dataset, tmp_path):
    config = tmp_path / "study.json"
    config.write_text(
        json.dumps(
            {
                "tuner": "bayesian",
                "trials": 2,
                "study": "s",
                "results": str(tmp_path / "r"),
                "data": str(tiny_dataset),
            }
        )
    )
    assert main(["--config", str(config), "--no-report", *tiny(tuner=None)]) == 0
    found = reports(tmp_path / "r")
    assert sorted(found) == ["0", "1"]
    saved = json.loads((tmp_path / "r" / "s" / "study.json").read_text())
    assert saved["config"]["tuner"] == "bayesian"
    assert saved["search_space"]["width"]["kind"] == "fixed"


def test_help_is_fast_and_imports_no_tensorflow():
    code = (
        "import sys, time; t = time.time(); from study import cli; "
        "cli.build_parser().format_help(); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; "
        "print(time.time() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert float(out.stdout) < 2.0
