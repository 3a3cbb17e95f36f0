"""Fault injection: kills at named points, signals, the lock, torn state, failing trials,
bad input everywhere. Tiny data and models; the kill points come from study/faults.py."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from study import faults
from study.cli import main
from study.store.lock import StudyLock
from study.testing.inspect import completed_records
from study.testing.presets import study_argv

ROOT = Path(__file__).resolve().parents[2]


study_args = study_argv


def run(data, results, trials, *extra, fault=None):
    """The study as a command; returns (exit status, stderr)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop(faults.VARIABLE, None)
    if fault:
        env[faults.VARIABLE] = fault
    done = subprocess.run(
        [sys.executable, "run_study.py", *study_args(data, results, trials, *extra)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode, done.stderr


def completed(results) -> dict[str, bytes]:
    return completed_records(Path(results) / "s")


def reports(results) -> dict:
    trials = Path(results) / "s" / "trials"
    return {p.parent.name: json.loads(p.read_text()) for p in trials.glob("*/report.json")}


@pytest.fixture(autouse=True)
def _no_fault(monkeypatch):
    monkeypatch.delenv(faults.VARIABLE, raising=False)
    faults._passed.clear()


KILLS = [
    "kill:data",  # dataset loaded, before the lock and the tuner
    "kill:phase1@2",  # second phase-1 epoch of the first trial
    "kill:switch",  # first phase-2 epoch
    "kill:trial-end",  # report written, oracle not yet told
    "kill:trial-json#1",  # trial 1's trial.json written at its creation, oracle.json not
    "kill:phase2@2",  # inside phase 2
    "kill:save@6",  # between a state file's temporary and its rename
    "kill:retrain@1",  # after the first retraining checkpoint
    "kill:export",  # export written, not renamed into place
]


def test_the_report_of_a_killed_study_shows_the_killed_trial(tiny_dataset, tmp_path):
    from study.report import build_report

    results = tmp_path / "r"
    code, err = run(tiny_dataset, results, 2, fault="kill:phase1@2")
    assert code == -signal.SIGKILL, err[-2000:]
    summary = build_report(results / "s")
    assert summary.counts == {"KILLED": 1}
    assert summary.state.startswith("stopped, a trial was cut")
    text = (results / "s" / "report" / "report.md").read_text()
    assert "KILLED" in text
    assert "running (pid" not in text and "RUNNING" not in text


@pytest.mark.slow
def test_kill9_at_every_point_then_resume(tiny_dataset, tmp_path):
    results = tmp_path / "r"
    extra = ("--retrain-max-epochs", "2")
    kept: dict[str, bytes] = {}
    for fault in KILLS:
        code, err = run(tiny_dataset, results, 2, *extra, fault=fault)
        assert code == -signal.SIGKILL, f"{fault}: exit {code}\n{err[-2000:]}"
        now = completed(results)
        for trial_id, raw in kept.items():  # completed before: untouched by this run
            assert now[trial_id] == raw, f"{fault}: trial {trial_id} changed"
        kept.update(now)
    code, err = run(tiny_dataset, results, 2, *extra)
    assert code == 0, err[-3000:]
    final = completed(results)
    assert sorted(final) == ["0", "1"]
    assert all(final[t] == raw for t, raw in kept.items())
    oracle = json.loads((results / "s" / "tuner" / "oracle.json").read_text())
    assert sorted(oracle["end_order"]) == ["0", "1"] == sorted(set(oracle["end_order"]))
    assert all(r["status"] == "COMPLETED" for r in reports(results).values())
    for trial_id in final:  # a re-run trial's history restarts: one row per epoch
        rows = (results / "s" / "trials" / trial_id / "history.csv").read_text().splitlines()
        assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(len(rows) - 1))
    assert list((results / "s").rglob(".*.tmp")) == []  # a killed write's temporary: removed
    export = results / "s" / "best" / "export"
    import tensorflow as tf

    loaded = tf.saved_model.load(str(export / "saved_model"))
    card = json.loads((export / "model_card.json").read_text())
    x = np.zeros((4, len(card["features"])), np.float32) + 1.0
    p = loaded.serve(x).numpy()
    assert p.shape == (4,) and np.all((p >= 0) & (p <= 1))
    assert not (results / "s" / "best" / "checkpoint").exists()


def _wait_for(path: Path, process, timeout=180):
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, "study ended before the signal point"
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _start(data, results, trials):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop(faults.VARIABLE, None)
    return subprocess.Popen(
        [sys.executable, "run_study.py", *study_args(data, results, trials, "--no-retrain")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_records_interrupted_and_resumes(tiny_dataset, tmp_path, signum, status):
    results = tmp_path / "r"
    process = _start(tiny_dataset, results, 1)
    _wait_for(results / "s" / "trials" / "0" / "history.csv", process)
    process.send_signal(signum)
    err = process.communicate(timeout=60)[1]
    assert process.returncode == status, err[-2000:]
    assert "run the same command again to resume" in err
    found = reports(results)
    assert found["0"]["status"] == "INTERRUPTED" and found["0"]["objective"] is None
    assert completed(results) == {}
    if signum == signal.SIGINT:
        return  # the resume of an interrupted trial is checked once, after SIGTERM
    assert main(study_args(tiny_dataset, results, 1, "--no-retrain")) == 0
    assert reports(results)["0"]["status"] == "COMPLETED"


@pytest.mark.slow
def test_second_sigint_exits_at_once(tiny_dataset, tmp_path):
    results = tmp_path / "r"
    process = _start(tiny_dataset, results, 1)
    _wait_for(results / "s" / "trials" / "0" / "history.csv", process)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    start = time.time()
    process.communicate(timeout=60)
    assert process.returncode == 130
    assert time.time() - start < 10
    # Whether the first stop's record was written before the second signal came is a
    # race; either way the trial is not completed and a resume re-runs it.
    assert reports(results)["0"]["status"] in ("RUNNING", "INTERRUPTED")
    assert completed(results) == {}


def test_lock_refuses_a_second_process_and_stale_lock_is_taken(
    tiny_dataset, tmp_path, capsys, caplog
):
    results = tmp_path / "r"
    with StudyLock(results / "s"):
        code = main(study_args(tiny_dataset, results, 1, "--no-retrain"))
        err = capsys.readouterr().err
        assert code == 2
        assert f"study in use by pid {os.getpid()} on host {os.uname().nodename}" in err
        assert not (results / "s" / "study.json").exists()
    # A lock left by a process that is gone (its flock went with it) is taken over.
    (results / "s" / ".lock").write_text('{"pid": 999999, "host": "gone-node"}\n')
    caplog.set_level("INFO")
    assert main(study_args(tiny_dataset, results, 1, "--no-retrain")) == 0
    log = caplog.text
    assert "taking over the lock" in log and "999999" in log and "gone-node" in log
    assert reports(results)["0"]["status"] == "COMPLETED"


def test_torn_state_files_are_rebuilt(tiny_dataset, tmp_path, caplog):
    results = tmp_path / "r"
    assert main(study_args(tiny_dataset, results, 2, "--no-retrain")) == 0
    project = results / "s" / "tuner"
    before = reports(results)
    for path in (
        project / "oracle.json",
        project / "tuner0.json",
        project / "trial_0" / "trial.json",
        results / "s" / "trials" / "1" / "report.json",
    ):
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2])  # what a kill during an in-place write leaves
    caplog.set_level("INFO")
    assert main(study_args(tiny_dataset, results, 3, "--no-retrain")) == 0
    err = caplog.text
    for name in ("oracle.json", "tuner0.json", "trial.json", "report.json"):
        assert f"{name}: torn" in err
        assert list(results.rglob(f"{name}.torn"))
    found = reports(results)
    assert sorted(found) == ["0", "1", "2"]
    assert all(r["status"] == "COMPLETED" for r in found.values())
    assert found["1"]["objective"] == pytest.approx(before["1"]["objective"])
    trial_0 = json.loads((project / "trial_0" / "trial.json").read_text())
    assert trial_0["score"] == pytest.approx(before["0"]["objective"])
    oracle = json.loads((project / "oracle.json").read_text())
    assert sorted(oracle["end_order"]) == ["0", "1", "2"]


def test_a_torn_file_nothing_can_rebuild_ends_in_one_line(tiny_dataset, tmp_path, capsys):
    results = tmp_path / "r"
    assert main(study_args(tiny_dataset, results, 1, "--no-retrain")) == 0
    for path in (results / "s" / "tuner" / "trial_0" / "trial.json",
                 results / "s" / "trials" / "0" / "report.json"):  # fmt: skip
        path.write_bytes(path.read_bytes()[:20])  # both records of trial 0 torn
    capsys.readouterr()
    code = main(study_args(tiny_dataset, results, 2, "--no-retrain"))
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "trial.json: torn, and" in lines[0], err
    assert "move" in lines[0] and "aside to drop the trial" in lines[0]


def test_failing_trials_record_reasons_and_stop_listing_them(
    tiny_dataset, tmp_path, capsys, monkeypatch
):
    # An exception in a callback of the trial's own process, in every trial.
    monkeypatch.setenv(faults.VARIABLE, "raise:child-epoch@2")
    results = tmp_path / "r"
    code = main(study_args(tiny_dataset, results, 4, "--no-retrain", "--max-failures", "2"))
    err = capsys.readouterr().err
    assert code == 1
    assert "2 consecutive trials failed (trial 0: " in err and "; trial 1: " in err
    assert err.count("fault injected at child-epoch") >= 2
    found = reports(results)
    assert sorted(found) == ["0", "1"]
    assert all(r["status"] == "FAILED" for r in found.values())
    assert "fault injected at child-epoch (pass 2)" in found["0"]["message"]
    oracle = json.loads((results / "s" / "tuner" / "oracle.json").read_text())
    assert oracle["end_order"] == ["0", "1"] and oracle["ongoing_trials"] == {}


def test_callback_error_in_study_process_fails_only_that_trial(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv(faults.VARIABLE, "raise:phase1@1")  # first epoch report of the first trial
    results = tmp_path / "r"
    assert main(study_args(tiny_dataset, results, 2, "--no-retrain")) == 0
    found = reports(results)
    assert found["0"]["status"] == "FAILED" and "fault injected at phase1" in found["0"]["message"]
    assert found["1"]["status"] == "COMPLETED"


def test_model_too_large_for_memory_fails_the_trial(tiny_dataset, tmp_path):
    results = tmp_path / "r"
    huge = ["--fix", "width=200000", "--max-failures", "1"]
    code = main(study_args(tiny_dataset, results, 1, "--no-retrain", *huge))
    assert code == 1
    report = reports(results)["0"]
    assert report["status"] == "FAILED" and "OOM when allocating" in report["message"]


def _bad_config(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    return ["--config", str(path)]


BAD = {
    "trials zero": (["--trials", "0"], "trials: expected a positive integer, found 0"),
    "trials negative": (["--trials", "-3"], "trials: expected a positive integer, found -3"),
    "trials not a number": (["--trials", "many"], "invalid int value: 'many'"),
    "max epochs zero": (["--max-epochs", "0"], "max_epochs: expected a positive integer"),
    "phase-2 retrain patience zero": (
        ["--retrain-patience-2", "0"], "retrain_patience_2: expected a positive integer, found 0"
    ),
    "unknown tuner": (["--tuner", "grid"], "argument --tuner: invalid choice: 'grid'"),
    "unknown pruner": (
        ["--tuner", "tpe", "--prune", "asha"], "argument --prune: invalid choice: 'asha'"
    ),
    "pruning a keras-tuner oracle": (
        ["--tuner", "random", "--prune", "median"],
        "prune: pruning needs an Optuna tuner (tpe, cmaes, gp), found tuner random",
    ),
    "pruning hyperband": (
        ["--tuner", "hyperband", "--prune", "median"],
        "prune: pruning needs an Optuna tuner (tpe, cmaes, gp), found tuner hyperband",
    ),
    "bad time budget": (
        ["--time-budget", "half an hour"],
        "time_budget: expected a duration such as 45s, 30m, 2h or 1h30m, found 'half an hour'",
    ),
    "negative search rows": (["--search-rows", "-5"], "search_rows: expected 0 (all) or a"),
    "unknown fix name": (["--fix", "depth=3"], "unknown hyperparameter"),
    "fix of wrong type": (["--fix", "width=wide"], "width"),
    "narrow of wrong form": (["--narrow", "width=64"], "width"),
    "fix without value": (["--fix", "width"], "expected name=value"),
    "study with slash": (["--study", "a/b"], "study: expected a plain directory name"),
    "study with backslash": (["--study", "a\\b"], "study: expected a plain directory name"),
    "study dot-dot": (["--study", ".."], "study: expected a plain directory name"),
    "results not writable": (["--results", "/proc/acceptance"], "not writable"),
    "results under a file": (["--results", "/etc/hostname/r"], "is not a directory"),
    "missing data": (["--data", "/nonexistent/data"], "/nonexistent/data"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_study_input_exit_2_one_line_nothing_written(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv, message = BAD[case]
    try:
        code = main(["--study", "s", *argv])
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "content,message",
    [
        ('{"trials": 3, "widht": 4}', "unknown key 'widht'"),
        ('{"trials": "3"}', "trials: expected int, found '3'"),
        ('{"seed": 1.5}', "seed: expected int, found 1.5"),
        ('{"study": 7}', "study: expected str, found 7"),
        ('{"fixed": ["width"]}', "fixed: expected dict"),
        ('{"trials": true}', "trials: expected int, found True"),
        ("[1, 2]", "expected a JSON object"),
        ('{"trials": 3', "not valid JSON"),
    ],
)
def test_bad_config_file(content, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = _bad_config(tmp_path, content)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_bad_input_to_other_commands(tiny_dataset, tmp_path, capsys):
    model = tmp_path / "export"
    model.mkdir()
    (model / "preprocessing.json").write_text("{}")
    out = tmp_path / "out.feather"
    assert main(["predict", "--model", str(model), "--input", "x", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "model.keras: missing" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert main(["retrain", "--study", "nope", "--results", str(tmp_path)]) == 2
    assert "no such study" in capsys.readouterr().err
    try:
        code = main(["generate", "--rows", "ten", "--output", str(tmp_path / "g")])
    except SystemExit as stop:
        code = stop.code
    assert code == 2 and not (tmp_path / "g").exists()
    shutil.rmtree(model)
