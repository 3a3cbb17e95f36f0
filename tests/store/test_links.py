"""Links another local user plants in a study folder are refused, never followed (issue 35):
`.lock`, `.optuna.lock`, `optuna.db` and its journal, and a `<name>.old` that a swap
removes; a removal that fails is an error, never silence; a record nested too deep or
that is not JSON is a one-line DataError naming its file; a record is never written into
nor read from a linked `trials/` or `trials/<id>/`, nor read through a linked file."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

import pytest

from study.errors import DataError, StateError, StudyError
from study.store import optuna_mirror
from study.store.atomic import swap_directory
from study.store.lock import StudyLock, lock_holder
from study.store.records import TrialRecords, read_history, read_json
from study.testing.scripted import write_study

SECRET = b"the owner's data, never to be truncated\n"


def _victim(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(SECRET)
    return victim


def test_1_a_lock_symlink_is_refused_and_its_target_untouched(tmp_path):
    study_dir = tmp_path / "s"
    study_dir.mkdir()
    victim = _victim(tmp_path)
    (study_dir / ".lock").symlink_to(victim)
    with pytest.raises(DataError, match=r"s/\.lock: a symbolic link; refused") as caught:
        with StudyLock(study_dir):
            pass
    assert "\n" not in str(caught.value) and isinstance(caught.value, StudyError)
    assert victim.read_bytes() == SECRET
    assert lock_holder(study_dir) is None  # nor read through the link


def test_2_a_dangling_lock_symlink_creates_nothing(tmp_path):
    study_dir = tmp_path / "s"
    study_dir.mkdir()
    (study_dir / ".lock").symlink_to(tmp_path / "created-anywhere")
    with pytest.raises(DataError, match="symbolic link"):
        StudyLock(study_dir).acquire()
    assert not (tmp_path / "created-anywhere").exists()


def test_3_a_lock_fifo_is_refused_without_blocking(tmp_path):
    study_dir = tmp_path / "s"
    study_dir.mkdir()
    os.mkfifo(study_dir / ".lock")
    with pytest.raises(DataError, match="not a plain file"):
        StudyLock(study_dir).acquire()
    assert lock_holder(study_dir) is None


def test_4_a_plain_lock_still_works(tmp_path):
    with StudyLock(tmp_path / "s"):
        assert lock_holder(tmp_path / "s")["pid"] == os.getpid()
    assert lock_holder(tmp_path / "s") is None


def _other_db(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE mine (x INTEGER)")
        connection.execute("INSERT INTO mine VALUES (1)")
    connection.close()
    return other


def test_5_an_optuna_db_symlink_is_refused_and_the_other_database_not_written(tmp_path):
    study_dir = write_study(tmp_path, "s", ["COMPLETED", "FAILED", "COMPLETED"])
    other = _other_db(tmp_path)
    before = other.read_bytes()
    (study_dir / "optuna.db").symlink_to(other)
    with pytest.raises(DataError, match=r"optuna\.db: a symbolic link; refused"):
        optuna_mirror.Mirror(study_dir).sync()
    assert other.read_bytes() == before
    assert (study_dir / "optuna.db").is_symlink()  # left as it was, for its owner to see


@pytest.mark.parametrize("side", ["-journal", "-wal"])
def test_6_a_journal_symlink_is_refused(tmp_path, side):
    study_dir = write_study(tmp_path, "s", ["COMPLETED"])
    victim = _victim(tmp_path)
    (study_dir / f"optuna.db{side}").symlink_to(victim)
    with pytest.raises(DataError, match=f"optuna.db{side}: a symbolic link"):
        optuna_mirror.Mirror(study_dir).sync()
    assert victim.read_bytes() == SECRET


def test_7_an_optuna_lock_symlink_creates_no_file_anywhere(tmp_path):
    study_dir = write_study(tmp_path, "s", ["COMPLETED"])
    elsewhere = tmp_path / "elsewhere" / "planted"
    elsewhere.parent.mkdir()
    (study_dir / ".optuna.lock").symlink_to(elsewhere)
    with pytest.raises(DataError, match=r"\.optuna\.lock: a symbolic link"):
        optuna_mirror.Mirror(study_dir).sync()
    assert not elsewhere.exists()
    assert not (study_dir / "optuna.db").exists()


def test_8_a_hostile_report_is_skipped_by_the_mirror(tmp_path, caplog):
    study_dir = write_study(tmp_path, "s", ["COMPLETED", "COMPLETED"])
    (study_dir / "trials" / "1" / "report.json").write_text("[" * 100_000 + "]" * 100_000)
    assert optuna_mirror.Mirror(study_dir).sync() == 1
    assert "trials/1/report.json: JSON nested deeper than 64; not read; skipped" in caplog.text


def test_9_json_nested_too_deep_is_a_one_line_data_error(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(DataError, match=r"r\.json: JSON nested deeper than 64") as caught:
        read_json(path)
    assert "\n" not in str(caught.value)
    path.write_text(json.dumps({"a": [[["[[[[ not nesting: a string"]]]}))
    assert read_json(path)["a"][0][0] == ["[[[[ not nesting: a string"]


def test_10_reports_name_the_bad_file(tmp_path):
    study_dir = write_study(tmp_path, "s", ["COMPLETED", "COMPLETED"])
    (study_dir / "trials" / "0" / "report.json").write_text("not json")
    with pytest.raises(DataError, match=r"trials/0/report\.json: not valid JSON"):
        TrialRecords(study_dir).reports()
    assert [r.trial_id for r in TrialRecords(study_dir).readable_reports()] == ["1"]


def _swap_setup(tmp_path):
    directory = tmp_path / "export"
    directory.mkdir()
    (directory / "v").write_text("1")
    tmp = tmp_path / "export.tmp"
    tmp.mkdir()
    (tmp / "v").write_text("2")
    return tmp, directory


def test_11_a_stale_old_symlink_is_unlinked_never_followed(tmp_path):
    tmp, directory = _swap_setup(tmp_path)
    target = tmp_path / "someone-elses"
    target.mkdir()
    (target / "keep").write_bytes(SECRET)
    (tmp_path / "export.old").symlink_to(target)
    swap_directory(tmp, directory)
    assert (directory / "v").read_text() == "2"
    assert (target / "keep").read_bytes() == SECRET
    assert not (tmp_path / "export.old").exists()


def test_12_a_removal_that_fails_is_an_error(tmp_path, monkeypatch):
    tmp, directory = _swap_setup(tmp_path)
    stale = tmp_path / "export.old"
    (stale / "locked").mkdir(parents=True)

    def refuse(path, *args, **kwargs):
        assert not kwargs.get("ignore_errors")  # a failure is never ignored
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("study.store.atomic.shutil.rmtree", refuse)
    with pytest.raises(StateError, match=r"export\.old: cannot be removed \(Permission") as caught:
        swap_directory(tmp, directory)
    assert "\n" not in str(caught.value)
    assert (directory / "v").read_text() == "1" and (tmp / "v").read_text() == "2"  # not swapped


def test_13_a_linked_old_is_never_restored_in_place(tmp_path):
    from study.store.atomic import restore_swapped

    target = tmp_path / "someone-elses"
    target.mkdir()
    (tmp_path / "export.old").symlink_to(target)
    assert restore_swapped(tmp_path / "export") is False
    assert not (tmp_path / "export").exists()


def test_14_a_linked_trial_folder_or_trials_is_refused_never_written_through(tmp_path):
    from study.store.records import TrialReport

    study_dir = write_study(tmp_path, "s", ["COMPLETED"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "report.json").write_bytes(SECRET)
    (study_dir / "trials" / "1").symlink_to(elsewhere, target_is_directory=True)
    records = TrialRecords(study_dir)
    with pytest.raises(DataError, match=r"trials/1: a symbolic link or not a directory; refused"):
        records.write_report(TrialReport("1", "RUNNING"))
    with pytest.raises(DataError, match=r"trials/1: a symbolic link"):
        records.write_history("1", [])
    assert [p.name for p in elsewhere.iterdir()] == ["report.json"]
    assert (elsewhere / "report.json").read_bytes() == SECRET
    other = tmp_path / "t"
    (study_dir / "trials").rename(other)
    (study_dir / "trials").symlink_to(other, target_is_directory=True)
    with pytest.raises(DataError, match=r"s/trials: a symbolic link or not a directory"):
        records.write_report(TrialReport("5", "RUNNING"))
    assert not (other / "5").exists()


def test_15_a_linked_record_is_never_read(tmp_path, caplog):
    study_dir = write_study(tmp_path, "s", ["COMPLETED", "COMPLETED"])
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"trial_id": "1", "status": "FAILED", "message": "secret"}))
    report = study_dir / "trials" / "1" / "report.json"
    report.unlink()
    report.symlink_to(private)
    with pytest.raises(DataError, match=r"trials/1/report\.json: a symbolic link; not read"):
        read_json(report)
    assert [r.trial_id for r in TrialRecords(study_dir).readable_reports()] == ["0"]
    assert "report.json: a symbolic link; not read; skipped" in caplog.text
    history = study_dir / "trials" / "0" / "history.csv"
    history.unlink()
    history.symlink_to(private)
    with pytest.raises(DataError, match=r"history\.csv: a symbolic link; not read"):
        read_history(history)


def test_16_a_history_fifo_or_a_value_that_is_no_number_is_a_data_error(tmp_path):
    path = tmp_path / "history.csv"
    os.mkfifo(path)
    with pytest.raises(DataError, match=r"history\.csv: not a plain file; not read"):
        read_history(path)  # returns at once: never blocked on the FIFO
    path.unlink()
    path.write_text("epoch,val_bce\n0,0.3\n1,lots\n")
    with pytest.raises(DataError, match=r"history\.csv: line 3: a value that is no number"):
        read_history(path)
    assert read_history(tmp_path / "absent.csv") == []


def test_17_a_linked_or_oddly_named_trial_folder_is_not_read(tmp_path, caplog):
    study_dir = write_study(tmp_path, "s", ["COMPLETED", "COMPLETED"])
    other = write_study(tmp_path, "other", ["COMPLETED"] * 3)
    trials = study_dir / "trials"
    (trials / "2").symlink_to(other / "trials" / "2", target_is_directory=True)
    odd = trials / "9\x1b]52;c;SGVsbG8=\x07"
    shutil.copytree(trials / "1", odd)
    assert [r.trial_id for r in TrialRecords(study_dir).reports()] == ["0", "1"]
    assert "trials/'2': a link or no trial id; not read" in caplog.text
    assert "\x1b" not in caplog.text and "a link or no trial id" in caplog.messages[-1]


def test_18_an_overwrite_whose_removal_fails_is_an_error(tmp_path, monkeypatch):
    from study.store.overwrite import remove_study_contents

    study_dir = write_study(tmp_path, "s", ["COMPLETED"])

    def refuse(path, *args, **kwargs):
        assert not kwargs.get("ignore_errors")  # a failure is never ignored
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("study.store.atomic.shutil.rmtree", refuse)
    with pytest.raises(StateError, match=r"s/trials: cannot be removed \(Permission") as caught:
        remove_study_contents(study_dir, tmp_path, tmp_path / "data", ".lock")
    assert "\n" not in str(caught.value)
    assert (study_dir / "trials" / "0" / "report.json").is_file()


def test_19_a_journal_link_planted_past_the_check_is_refused_by_sqlite(tmp_path, monkeypatch):
    study_dir = write_study(tmp_path, "s", ["COMPLETED", "RUNNING"])
    mirror = optuna_mirror.Mirror(study_dir)
    assert mirror.sync() == 1
    report = study_dir / "trials" / "1" / "report.json"
    report.write_text(json.dumps({**json.loads(report.read_text()), "status": "FAILED"}))
    victim = _victim(tmp_path)
    (study_dir / "optuna.db-journal").symlink_to(victim)
    monkeypatch.setattr(optuna_mirror, "check_plain", lambda path: mirror._inode)  # the race
    with pytest.raises(Exception) as caught:  # noqa: PT011 - Optuna's wrapper of SQLite's
        mirror.sync()  # SQLite opens its journal without following the link
    assert "unable to open database file" in optuna_mirror._reason(caught.value)
    assert victim.read_bytes() == SECRET and (study_dir / "optuna.db-journal").is_symlink()
