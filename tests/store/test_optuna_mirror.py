"""store/optuna_mirror.py: optuna.db, the study as optuna-dashboard reads it."""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import optuna
import pytest

from study.cli import main
from study.store import optuna_mirror
from study.store.records import TrialRecords, read_history
from study.testing.inspect import read_report
from study.testing.presets import study_argv
from study.testing.scripted import write_study

Done = optuna.trial.TrialState
STATUSES = ["COMPLETED", "PRUNED", "FAILED", "COMPLETED", "RUNNING", "INTERRUPTED", "COMPLETED"]


def _load(study_dir, name="s") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=optuna_mirror.storage_url(study_dir))


def _csv_rows(study_dir) -> list[dict]:
    with open(study_dir / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_ended_trials_with_states_values_epochs_and_attributes(tmp_path):
    study_dir = write_study(tmp_path, "s", STATUSES)
    assert optuna_mirror.sync(study_dir) == 5  # RUNNING and INTERRUPTED have not ended
    assert optuna_mirror.sync(study_dir) == 0  # nothing twice
    trials = {t.user_attrs["trial_id"]: t for t in _load(study_dir).trials}
    assert sorted(trials) == ["0", "1", "2", "3", "6"]
    assert {k: t.state for k, t in trials.items()} == {
        "0": Done.COMPLETE, "1": Done.PRUNED, "2": Done.FAIL, "3": Done.COMPLETE,
        "6": Done.COMPLETE,
    }  # fmt: skip
    records = TrialRecords(study_dir)
    for trial_id, trial in trials.items():
        report = read_report(study_dir, trial_id).to_dict()
        history = read_history(records.trial_dir(trial_id) / "history.csv")
        assert trial.intermediate_values == {int(r.epoch): r.val_bce for r in history}
        assert trial.value == (report["objective"] if trial_id in ("0", "3", "6") else None)
        assert trial.user_attrs.get("epochs_1") == report.get("epochs_1")
        searched = {k: v for k, v in report["hyperparameters"].items() if k in trial.params}
        assert trial.params == searched and len(searched) == 8


def _trials(study_dir) -> list[tuple]:
    return sorted((t.user_attrs["trial_id"], t.state, t.value) for t in _load(study_dir).trials)


def test_a_missing_file_is_rebuilt(tmp_path):
    study_dir = write_study(tmp_path, "s", STATUSES)
    optuna_mirror.sync(study_dir)
    before = _trials(study_dir)
    (study_dir / "optuna.db").unlink()
    assert optuna_mirror.sync(study_dir) == 5
    assert _trials(study_dir) == before


def test_a_torn_file_is_moved_aside_with_its_bytes_never_deleted(tmp_path, caplog):
    study_dir = write_study(tmp_path, "s", STATUSES)
    optuna_mirror.sync(study_dir)
    before = _trials(study_dir)
    db = study_dir / "optuna.db"
    for k, aside in enumerate(("optuna.db.torn", "optuna.db.torn.1")):
        garbage = f"torn {k} ".encode() * 1000
        db.unlink()
        db.write_bytes(garbage)
        assert optuna_mirror.sync(study_dir) == 5
        assert (study_dir / aside).read_bytes() == garbage
        assert f"unreadable (file is not a database); moved to {aside}" in caplog.text
        assert _trials(study_dir) == before
    assert (study_dir / "optuna.db.torn").read_bytes() == b"torn 0 " * 1000


def _tables(db) -> set[str]:
    with sqlite3.connect(db) as connection:
        return {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}


def test_a_locked_database_is_waited_for_never_replaced(tmp_path, caplog):
    study_dir = write_study(tmp_path, "s", STATUSES)
    db = study_dir / "optuna.db"
    with sqlite3.connect(db) as mine:  # the user's own table in the file
        mine.execute("CREATE TABLE notes (text TEXT)")
        mine.execute("INSERT INTO notes VALUES ('mine')")
    inode = db.stat().st_ino
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # another connection holds the file for 2 s
    release = threading.Timer(2.0, holder.execute, ["COMMIT"])
    release.start()
    begin = time.monotonic()
    assert optuna_mirror.Mirror(study_dir).sync() == 5
    assert time.monotonic() - begin >= 1.5  # it waited for the lock
    release.join()
    holder.close()
    assert db.stat().st_ino == inode and not list(study_dir.glob("optuna.db.torn*"))
    assert "notes" in _tables(db)
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT text FROM notes").fetchall() == [("mine",)]
    assert len(_load(study_dir).trials) == 5 and "unreadable" not in caplog.text


def test_a_database_locked_too_long_is_skipped_with_a_warning(tmp_path, caplog):
    study_dir = write_study(tmp_path, "s", STATUSES)
    mirror = optuna_mirror.Mirror(study_dir, wait_s=1.0)
    assert mirror.sync() == 5
    inode = (study_dir / "optuna.db").stat().st_ino
    report = replace(read_report(study_dir, "4"), status="COMPLETED", objective=0.3)
    TrialRecords(study_dir).write_report(report)
    holder = sqlite3.connect(study_dir / "optuna.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert mirror.sync() == 0
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert "locked by another process for 1 s; not updated this time" in caplog.text
    assert (study_dir / "optuna.db").stat().st_ino == inode
    assert mirror.sync() == 1  # the next write catches up
    assert len(_load(study_dir).trials) == 6


def test_any_other_failure_raises_and_leaves_the_file(tmp_path, monkeypatch):
    study_dir = write_study(tmp_path, "s", STATUSES)
    db = study_dir / "optuna.db"
    with sqlite3.connect(db) as mine:
        mine.execute("CREATE TABLE notes (text TEXT)")
    inode = db.stat().st_ino

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(optuna.Study, "add_trial", full)
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        optuna_mirror.Mirror(study_dir).sync()
    assert db.stat().st_ino == inode and "notes" in _tables(db)
    assert sorted(p.name for p in study_dir.glob("optuna.db*")) == ["optuna.db"]


def test_processes_mirroring_one_study_add_each_trial_once(tmp_path):
    study_dir = write_study(tmp_path, "s", STATUSES)
    mirrors = [optuna_mirror.Mirror(study_dir) for _ in range(3)]  # as three processes
    with ThreadPoolExecutor(3) as pool:
        added = list(pool.map(lambda m: m.sync(), mirrors))
    assert sorted(added) == [0, 0, 5]
    report = replace(read_report(study_dir, "4"), status="COMPLETED", objective=0.3)
    TrialRecords(study_dir).write_report(report)
    assert [m.sync() for m in mirrors] == [1, 0, 0]  # each reads the file, not its memory
    ids = [t.user_attrs["trial_id"] for t in _load(study_dir).trials]
    assert sorted(ids) == ["0", "1", "2", "3", "4", "6"]


def test_a_study_and_its_resume_are_mirrored_as_trials_csv(tiny_dataset, tmp_path):
    assert main(study_argv(tiny_dataset, tmp_path, 2, "--no-retrain")) == 0
    study_dir = tmp_path / "s"
    assert len(_load(study_dir).trials) == 2 == len(_csv_rows(study_dir))
    (study_dir / "optuna.db").unlink()  # lost between the runs: the resume rebuilds it
    assert main(study_argv(tiny_dataset, tmp_path, 3, "--no-retrain")) == 0
    trials, rows = _load(study_dir).trials, _csv_rows(study_dir)
    assert len(trials) == 3 == len(rows)
    assert sorted(t.user_attrs["trial_id"] for t in trials) == sorted(r["trial_id"] for r in rows)
    for t in trials:  # global epochs: phase 2 continues phase 1's count
        assert sorted(t.intermediate_values) == list(range(t.user_attrs["epochs"]))
        assert t.user_attrs["epochs"] == t.user_attrs["epochs_1"] + t.user_attrs["epochs_2"]
    bookkeeping = json.loads((study_dir / "bookkeeping.json").read_text())
    assert 0 < bookkeeping["mirror_s"] and 0 < bookkeeping["bookkeeping_s"] < bookkeeping["wall_s"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_optuna_dashboard_serves_the_mirror(tmp_path):
    command = shutil.which("optuna-dashboard")
    if command is None:
        pytest.fail('optuna-dashboard is not installed (pip install -e ".[dashboard]")')
    study_dir = write_study(tmp_path, "s", STATUSES)
    optuna_mirror.sync(study_dir)
    port = _free_port()
    server = subprocess.Popen(
        [
            command, optuna_mirror.storage_url(study_dir),
            "--host", "127.0.0.1", "--port", str(port),
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ),
    )  # fmt: skip
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    try:
        base = f"http://127.0.0.1:{port}"
        deadline, studies = time.monotonic() + 60, None
        while time.monotonic() < deadline and studies is None:
            try:
                with opener.open(f"{base}/api/studies", timeout=5) as answer:
                    studies = json.load(answer)["study_summaries"]
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                time.sleep(0.5)
        assert studies is not None, "optuna-dashboard did not answer within 60 s"
        assert [s["study_name"] for s in studies] == ["s"]
        with opener.open(f"{base}/api/studies/{studies[0]['study_id']}", timeout=10) as a:
            detail = json.load(a)
    finally:
        server.terminate()
        server.wait(timeout=30)
    states = sorted(t["state"] for t in detail["trials"])
    assert states == ["Complete", "Complete", "Complete", "Fail", "Pruned"]
    complete = [t for t in detail["trials"] if t["state"] == "Complete"]
    assert all(len(t["intermediate_values"]) > 0 for t in complete)
