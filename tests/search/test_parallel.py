"""--parallel N: several trials at once on one machine (a chief and N workers on loopback)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from study.cli import main
from study.cli.parallel import check_gpus, plan, usable_cores
from study.errors import ConfigError
from study.search import chief
from study.testing.presets import tiny

ROOT = Path(__file__).resolve().parents[2]


def test_cpu_workers_share_the_cores():
    slots = plan(2, None, cores=2)
    assert [s.worker_id for s in slots] == ["local0", "local1"]
    for slot in slots:
        assert slot.gpu is None and slot.env["TF_NUM_INTRAOP_THREADS"] == "1"
        assert slot.env["OMP_NUM_THREADS"] == "1" and slot.env["CUDA_VISIBLE_DEVICES"] == "-1"
        assert "intra_op_parallelism_threads=1" in slot.env["XLA_FLAGS"]
    wide = plan(4, None, cores=16)
    assert len(wide) == 4 and wide[0].env["TF_NUM_INTRAOP_THREADS"] == "4"
    assert "XLA_FLAGS" not in wide[0].env


def test_gpu_workers_split_each_gpu_memory():
    slots = plan(2, ["0", "1"], gpu_memory_mb={"0": 1000})
    assert [(s.worker_id, s.gpu) for s in slots] == [
        ("local-gpu0-0", "0"), ("local-gpu0-1", "0"), ("local-gpu1-0", "1"), ("local-gpu1-1", "1"),
    ]  # fmt: skip
    assert {s.env["XLA_PYTHON_CLIENT_MEM_FRACTION"] for s in slots} == {"0.450"}
    assert {s.env["XLA_PYTHON_CLIENT_PREALLOCATE"] for s in slots} == {"true"}
    assert slots[0].env["STUDY_GPU_MEMORY_MB"] == "450"
    assert "STUDY_GPU_MEMORY_MB" not in slots[2].env  # no total known for GPU 1
    with pytest.raises(ConfigError, match="--parallel: expected a positive number"):
        plan(0, None)
    with pytest.raises(ConfigError, match="--gpus: no GPU 2 here"):
        check_gpus(["0", "2"], {"0": 1000, "1": 1000})
    with pytest.raises(ConfigError, match="nvidia-smi lists no GPU"):
        check_gpus(["0"], {})
    assert "TF_FORCE_GPU_ALLOW_GROWTH" not in plan(1, ["1"], gpu_memory_mb={})[0].env


def test_the_chief_stops_workers_once_the_budget_holds_no_further_trial(tmp_path):
    import keras_tuner

    from study.search import kt_compat
    from study.search.oracles import OBJECTIVE, ChiefRandomOracle

    why = []
    oracle = ChiefRandomOracle(
        objective=OBJECTIVE, max_trials=5, seed=1, events=tmp_path / "events.jsonl",
        budget_stop=lambda: why[0] if why else None,
    )  # fmt: skip
    oracle._set_project_dir(str(tmp_path), "tuner")
    space = keras_tuner.HyperParameters()
    space.Float("learning_rate", 1e-3, 1e-1, sampling="log")
    oracle.update_space(space)
    first = oracle.create_trial("local0")
    assert first.status == "RUNNING"
    why.append("time budget: 1m00s left, kept for the retrain; no further trial fits")
    assert oracle.create_trial("local1").status == kt_compat.kt_status().STOPPED
    assert not oracle.finished()  # trial 0 still runs
    oracle.update_trial(first.trial_id, {"val_bce": 0.5})
    first.status = "COMPLETED"
    oracle.end_trial(first)
    assert oracle.finished() and len(oracle.trials) == 1  # 1 of 5: the budget ended it
    assert oracle.create_trial("local0").status == kt_compat.kt_status().STOPPED


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--parallel", "2", "--role", "chief", "--oracle", "h:1"], "not with --role"),
        (["--gpus", "0"], "--gpus needs --parallel N"),
        (["--parallel", "0"], "--parallel: expected a positive number"),
    ],
)
def test_bad_parallel_flags(argv, message, capsys, tmp_path):
    assert main([*argv, "--results", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def _command(data, results, trials):
    return [
        sys.executable, "run_study.py", "--trials", str(trials), "--data", str(data), "--results",
        str(results), "--study", "s", *tiny(), "--parallel", "2", "--no-retrain", "--no-report",
    ]  # fmt: skip


def _reports(study: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text()) for p in study.glob("trials/*/report.json")}


def _overlapping(reports: dict) -> list[tuple[str, str]]:
    spans = {
        t: (r["finished_at"] - r["seconds"], r["finished_at"])
        for t, r in reports.items()
        if r.get("finished_at")
    }
    return [
        (a, b)
        for a in spans
        for b in spans
        if a < b and spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]
    ]


@pytest.mark.slow
def test_two_trials_at_once_complete_every_trial_once(tiny_dataset, tmp_path):
    done = subprocess.run(
        _command(tiny_dataset, tmp_path, 8), cwd=ROOT, capture_output=True, text=True, timeout=600
    )  # 8 trials: a worker that starts late still finds some (each is a few seconds)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    threads = max(1, usable_cores() // 2)
    assert f"--parallel 2: 2 workers on {threads} core{'s' * (threads > 1)} each" in done.stdout
    reports = _reports(tmp_path / "s")
    assert sorted(reports) == [str(k) for k in range(8)]
    assert {r["status"] for r in reports.values()} == {"COMPLETED"}
    assert {r["worker"] for r in reports.values()} == {"local0", "local1"}
    assert _overlapping(reports), reports  # two trials ran at the same time
    starts = [e["trial"] for e in _events(tmp_path / "s") if e["event"] == "start"]
    assert sorted(starts) == [str(k) for k in range(8)]


def _events(study: Path) -> list[dict]:
    path = study / chief.EVENTS
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
def test_a_killed_parallel_study_resumes_with_nothing_lost_or_duplicated(tiny_dataset, tmp_path):
    study = tmp_path / "s"
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(
        _command(tiny_dataset, tmp_path, 6), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while True:  # one trial completed, another running: kill the study there
        statuses = [r["status"] for r in _reports(study).values()]
        if "COMPLETED" in statuses and "RUNNING" in statuses:
            break
        assert first.poll() is None, (tmp_path / "first.log").read_text()
        assert time.monotonic() < deadline, (tmp_path / "first.log").read_text()
        time.sleep(0.1)
    os.kill(first.pid, signal.SIGKILL)  # the chief alone: its workers die with it
    first.wait()
    deadline = time.monotonic() + 60
    while _alive_workers(tmp_path):
        assert time.monotonic() < deadline, "the workers outlived their chief"
        time.sleep(0.5)
    done = subprocess.run(
        _command(tiny_dataset, tmp_path, 6), cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    reports = _reports(study)
    assert sorted(reports) == ["0", "1", "2", "3", "4", "5"]  # none lost
    assert {r["status"] for r in reports.values()} == {"COMPLETED"}
    starts = [e["trial"] for e in _events(study) if e["event"] == "start"]
    assert len(starts) == len(set(starts))  # none started twice as a new trial
    ends = [e["trial"] for e in _events(study) if e["event"] == "end"]
    assert sorted(ends) == ["0", "1", "2", "3", "4", "5"]  # each ended once
    resumed = {e["trial"] for e in _events(study) if e["event"] == "resume"}
    assert resumed and resumed <= set(starts)  # the killed trials, given back to their workers


def _alive_workers(tmp_path: Path) -> list[str]:
    pattern = f"--results {tmp_path} --study s"
    out = subprocess.run(["pgrep", "-f", "--", pattern], capture_output=True,
                         text=True)  # fmt: skip
    return [line for line in out.stdout.split() if line.strip()]
