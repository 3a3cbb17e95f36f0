"""Links another local user plants in a study folder are refused, never followed (issue 35):
`.lock`, `.optuna.lock`, `optuna.db` and its journal, and a `<name>.old` that a swap
removes; a removal that fails is an error, never silence; a record nested too deep or
that is not JSON is a one-line DataError naming its file."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from study.errors import DataError, StateError, StudyError
from study.store import optuna_mirror
from study.store.atomic import swap_directory
from study.store.lock import StudyLock, lock_holder
from study.store.records import TrialRecords, read_json
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
