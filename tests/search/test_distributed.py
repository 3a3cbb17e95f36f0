"""Distributed studies: the chief's oracle logic alone, then a chief and workers on loopback."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras_tuner
import pytest

from study.cli import main
from study.search import chief, distributed, kt_compat, recovery
from study.search.oracles import OBJECTIVE, ChiefOptunaOracle, ChiefRandomOracle
from study.store.records import TABLE_FIXED
from study.testing.inspect import optuna_study
from study.testing.presets import tiny

ROOT = Path(__file__).resolve().parents[2]
TINY = tiny()


# -- the chief's oracle, without gRPC or training ---------------------------------------
def chief_oracle(tmp_path, trials=3, handover_s=0.3, kind="random"):
    if kind == "random":
        cls, extra = ChiefRandomOracle, {}
    else:
        cls, extra = ChiefOptunaOracle, {"sampler": "tpe", "pruner": "median", "max_epochs": 3}
    oracle = cls(
        objective=OBJECTIVE, max_trials=trials, seed=1, handover_s=handover_s,
        events=tmp_path / "events.jsonl", **extra,
    )  # fmt: skip
    oracle._set_project_dir(str(tmp_path), "tuner")
    space = keras_tuner.HyperParameters()
    space.Float("learning_rate", 1e-3, 1e-1, sampling="log")
    oracle.update_space(space)
    return oracle


def end(oracle, trial, score):
    oracle.update_trial(trial.trial_id, {"val_bce": score})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def events(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.mark.parametrize("kind", ["random", "tpe"])
def test_silent_trial_is_handed_over_and_its_late_end_ignored(tmp_path, kind):
    oracle = chief_oracle(tmp_path, kind=kind)
    a, b = oracle.create_trial("w1"), oracle.create_trial("w2")
    oracle.update_trial(b.trial_id, {"epoch_val_bce": 0.5}, step=0)
    time.sleep(0.2)
    oracle.get_trial(a.trial_id)  # w1's heartbeat; w2 stays silent
    time.sleep(0.2)
    assert [w for w, _ in oracle.silent()] == ["w2"]
    taken = oracle.create_trial("w3")
    assert taken.trial_id == b.trial_id and taken.status == "RUNNING"
    assert not taken.metrics.exists("epoch_val_bce")  # the lost run's epochs are forgotten
    assert oracle.ongoing_trials["w3"].trial_id == b.trial_id and "w2" not in oracle.ongoing_trials
    end(oracle, taken, 0.4)
    late = oracle.get_trial(b.trial_id)
    oracle.update_trial(b.trial_id, {"epoch_val_bce": 9.0}, step=5)  # w2 was alive after all
    late.status = "COMPLETED"
    oracle.end_trial(late)
    assert oracle.end_order == [b.trial_id]
    assert oracle.trials[b.trial_id].score == pytest.approx(0.4)
    log = events(tmp_path / "events.jsonl")
    assert [(e["event"], e["trial"], e["worker"]) for e in log] == [
        ("start", a.trial_id, "w1"),
        ("start", b.trial_id, "w2"),
        ("handover", b.trial_id, "w3"),
        ("end", b.trial_id, "w3"),
    ]
    assert log[2]["lost"] == "w2" and log[2]["silent_s"] > 0.3
    if kind == "tpe":  # Optuna: the lost run failed, the re-run was told complete
        states = [t.state.name for t in optuna_study(oracle).trials]
        assert states.count("FAIL") == 1 and states.count("COMPLETE") == 1


def test_idle_while_last_trials_run_then_stopped(tmp_path):
    oracle = chief_oracle(tmp_path, trials=2, handover_s=60)
    a, b = oracle.create_trial("w1"), oracle.create_trial("w2")
    restarted = oracle.create_trial("w1")  # a worker restarted with the same id
    assert restarted.trial_id == a.trial_id
    assert oracle.create_trial("w3").status == "IDLE"  # stays, in case one is lost
    end(oracle, a, 0.3)
    assert not oracle.finished() and oracle.create_trial("w1").status == "IDLE"
    end(oracle, b, 0.2)
    assert oracle.finished()
    assert oracle.create_trial("w3").status == "STOPPED"
    assert [e["event"] for e in events(tmp_path / "events.jsonl")] == [
        "start", "start", "resume", "end", "end",
    ]  # fmt: skip


def test_restarted_chief_gives_running_trials_back_to_their_workers(tmp_path):
    oracle = chief_oracle(tmp_path, trials=3)
    a, b = oracle.create_trial("w1"), oracle.create_trial("w2")
    end(oracle, b, 0.5)
    restarted = chief_oracle(tmp_path, trials=3)  # the chief killed and started again
    restarted.reload()
    assert {w: t.trial_id for w, t in restarted.ongoing_trials.items()} == {"w1": a.trial_id}
    assert kt_compat.retry_queue(restarted) == []
    end(restarted, restarted.get_trial(a.trial_id), 0.4)  # w1's end, sent meanwhile
    assert restarted.end_order == [b.trial_id, a.trial_id]
    assert restarted.create_trial("w2").trial_id not in (a.trial_id, b.trial_id)


def test_foreign_running_trials_requeued_and_tuner_file_adopted(tmp_path):
    oracle = chief_oracle(tmp_path, trials=3)
    trial = oracle.create_trial("w1")
    assert distributed.requeue_foreign(oracle) == [trial.trial_id]
    assert oracle.ongoing_trials == {}
    assert oracle.create_trial("tuner0").trial_id == trial.trial_id
    project = tmp_path / "tuner"
    recovery.adopt(project, "tuner0")  # oracle.json written by the chief; no tuner0.json yet
    assert json.loads((project / "tuner0.json").read_text()) == {}


def test_worker_ids_and_addresses():
    env = {"SLURM_PROCID": "3", "SLURM_JOB_ID": "812"}
    assert distributed.default_worker_id(None, env) == "slurm812-task3"
    host = socket.gethostname().split(".")[0]
    assert distributed.default_worker_id("1", {}) == f"{host}-gpu1"
    assert distributed.default_worker_id(None, {"CUDA_VISIBLE_DEVICES": "2,3"}) == f"{host}-gpu2"
    assert distributed.parse_address("node01:8000") == ("node01", 8000)
    for bad in ("node01", "node01:http", ":8000", "node01:70000"):
        with pytest.raises(ValueError, match="expected HOST:PORT"):
            distributed.parse_address(bad)


def test_environment_of_a_worker_on_one_gpu_is_set_then_restored():
    role = distributed.Role("worker", "node01", 8000, "w1", gpu="1")
    environ = {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    with distributed.environment(role, environ):
        assert environ == {
            "KERASTUNER_TUNER_ID": "w1",
            "KERASTUNER_ORACLE_IP": "node01",
            "KERASTUNER_ORACLE_PORT": "8000",
            "CUDA_VISIBLE_DEVICES": "1",
            "TF_FORCE_GPU_ALLOW_GROWTH": "true",
            "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        }
    assert environ == {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    with distributed.environment(distributed.Role(), environ):  # one process: nothing set
        assert environ == {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--role", "worker"], "--role worker needs --oracle HOST:PORT"),
        (["--role", "chief", "--oracle", "nohost"], "--oracle: expected HOST:PORT"),
        (["--role", "worker", "--oracle", "h:1", "--worker-id", "chief2"], "--worker-id"),
        (["--gpu", "0"], "--gpu needs --role chief or worker"),
    ],
)
def test_bad_distributed_flags(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_worker_without_a_chief_says_so(tmp_path, capsys):
    argv = ["--role", "worker", "--oracle", "127.0.0.1:9", "--results", str(tmp_path)]
    assert main([*argv, "--connect-timeout", "1"]) == 2
    assert "not written by a chief within 1 s" in capsys.readouterr().err


# -- a chief and workers on loopback -------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A chief and its workers as processes of run_study.py, logs in `tmp_path`."""

    def __init__(self, tmp_path, data, trials, *chief_extra):
        self.tmp, self.results = tmp_path, tmp_path / "r"
        self.address = f"127.0.0.1:{free_port()}"
        self.workers: dict[str, subprocess.Popen] = {}
        self.chief_argv = [
            "--trials", str(trials), "--data", str(data), *TINY, *chief_extra, "--role", "chief",
        ]  # fmt: skip
        self.chief = self._start("chief", *self.chief_argv)

    def restart_chief(self):
        os.killpg(self.chief.pid, signal.SIGKILL)
        self.chief.wait()
        self.chief = self._start("chief", *self.chief_argv)

    def _start(self, name, *argv):
        log = open(self.tmp / f"{name}.log", "a")
        command = [sys.executable, "run_study.py", "--results", str(self.results), "--study", "s"]
        return subprocess.Popen(
            [*command, *argv, "--oracle", self.address],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def worker(self, worker_id):
        self.workers[worker_id] = self._start(
            worker_id, "--role", "worker", "--worker-id", worker_id
        )

    def kill(self, worker_id):
        os.killpg(self.workers[worker_id].pid, signal.SIGKILL)
        self.workers[worker_id].wait()

    def events(self):
        path = self.results / "s" / chief.EVENTS
        return events(path) if path.exists() else []

    def running_with_epochs(self, worker_id, timeout=120):
        """The trial `worker_id` runs, once it has trained an epoch."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mine = {}
            for e in self.events():
                if e["event"] in ("start", "resume", "handover"):
                    mine[e["trial"]] = e["worker"]
                elif e["event"] == "end":
                    mine.pop(e["trial"], None)
            for trial_id, worker in mine.items():
                history = self.results / "s" / "trials" / trial_id / "history.csv"
                if (
                    worker == worker_id
                    and history.exists()
                    and len(history.read_text().splitlines()) > 1
                ):
                    return trial_id
            time.sleep(0.2)
        raise AssertionError(f"worker {worker_id} trained no epoch in {timeout} s")

    def wait(self, timeout=300):
        try:
            chief = self.chief.wait(timeout)
            return chief, {w: p.wait(60) for w, p in self.workers.items() if p.poll() != -9}
        finally:
            for p in [self.chief, *self.workers.values()]:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)

    def log(self, name):
        return (self.tmp / f"{name}.log").read_text()

    def reports(self):
        trials = self.results / "s" / "trials"
        return {p.parent.name: json.loads(p.read_text()) for p in trials.glob("*/report.json")}


@pytest.mark.slow
def test_chief_and_two_workers_finish_the_study(tiny_dataset, tmp_path):
    cluster = Cluster(tmp_path, tiny_dataset, 4, "--retrain-max-epochs", "2")
    cluster.worker("w1")
    cluster.worker("w2")
    chief, workers = cluster.wait()
    assert chief == 0, cluster.log("chief")
    assert workers == {"w1": 0, "w2": 0}
    reports = cluster.reports()
    assert sorted(reports) == ["0", "1", "2", "3"]
    assert {r["status"] for r in reports.values()} == {"COMPLETED"}
    assert {r["worker"] for r in reports.values()} == {"w1", "w2"}  # both ran trials
    with open(cluster.results / "s" / "trials.csv") as f:
        rows = list(csv.reader(f))
    hyperparameters = sorted(reports["0"]["hyperparameters"])
    assert rows[0] == TABLE_FIXED + hyperparameters  # a single-process study's columns
    assert [r[0] for r in rows[1:]] == ["0", "1", "2", "3"]
    starts = [e["trial"] for e in cluster.events() if e["event"] == "start"]
    assert sorted(starts) == ["0", "1", "2", "3"]
    # the chief retrained, validated, exported and reported as a single process does
    card = json.loads((cluster.results / "s" / "best" / "export" / "model_card.json").read_text())
    assert card["trial_id"] == min(reports, key=lambda t: reports[t]["objective"])
    assert (cluster.results / "s" / "report" / "index.html").exists()


@pytest.mark.slow
def test_killed_worker_resumes_and_lost_worker_is_replaced(tiny_dataset, tmp_path):
    cluster = Cluster(tmp_path, tiny_dataset, 4, "--no-retrain", "--no-report",
                      "--handover-after", "6")  # fmt: skip
    cluster.worker("w1")
    cluster.worker("w2")
    first = cluster.running_with_epochs("w1")
    cluster.kill("w1")  # SIGKILL mid-trial, then the same id again
    cluster.worker("w1")
    lost = cluster.running_with_epochs("w2")
    cluster.kill("w2")  # for good
    chief, workers = cluster.wait()
    assert chief == 0, cluster.log("chief")
    assert workers == {"w1": 0}
    reports = cluster.reports()
    assert sorted(reports) == ["0", "1", "2", "3"]  # no trial lost, none duplicated
    assert {r["status"] for r in reports.values()} == {"COMPLETED"}
    log = [(e["event"], e["trial"], e["worker"]) for e in cluster.events()]
    assert ("resume", first, "w1") in log
    assert ("handover", lost, "w1") in log
    ends = [t for event, t, _ in log if event == "end"]
    assert sorted(ends) == ["0", "1", "2", "3"]
    assert reports[lost]["worker"] == "w1"
    assert "handed over to worker w1" in cluster.log("chief")


@pytest.mark.slow
def test_chief_killed_and_restarted_keeps_the_workers_trials(tiny_dataset, tmp_path):
    cluster = Cluster(tmp_path, tiny_dataset, 5, "--no-retrain", "--no-report")
    cluster.worker("w1")
    cluster.worker("w2")
    deadline = time.monotonic() + 180
    while sum(e["event"] == "end" for e in cluster.events()) < 2:
        assert time.monotonic() < deadline, cluster.log("chief")
        time.sleep(0.2)
    cluster.restart_chief()  # SIGKILL, then the same command
    chief, workers = cluster.wait()
    assert chief == 0, cluster.log("chief")
    assert workers == {"w1": 0, "w2": 0}
    reports = cluster.reports()
    assert sorted(reports) == ["0", "1", "2", "3", "4"]
    assert {r["status"] for r in reports.values()} == {"COMPLETED"}
    log = [(e["event"], e["trial"]) for e in cluster.events()]
    starts = [t for event, t in log if event == "start"]
    assert len(starts) == len(set(starts))  # no trial started twice
    # A trial created in the instant of the kill is saved in oracle.json before its line
    # reaches workers.jsonl: its start line may be missing (seen once in 3 suite runs).
    assert len({"0", "1", "2", "3", "4"} - set(starts)) <= 1
    assert not [t for event, t in log if event == "handover"]
    # Likewise, the worker whose create call the kill cut gets that trial back from the
    # restarted chief as a "resume" (seen once in a clean-clone CI run): at most that one.
    assert len([t for event, t in log if event == "resume"]) <= 1
    assert sorted(t for event, t in log if event == "end") == ["0", "1", "2", "3", "4"]
