"""store/atomic.py: a directory swap killed between its two renames is put back."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from study.best.exported import load_export
from study.cli import main
from study.config import StudyConfig
from study.data.dataset import open_dataset, replaced
from study.errors import DataError
from study.report import build_report
from study.store.atomic import restore_swapped, swap_directory
from study.store.study_file import check_or_create
from study.testing.scripted import write_study


def _tree(root) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _directory(path, text: str):
    (path / "sub").mkdir(parents=True)
    (path / "card.json").write_text(text)
    (path / "sub" / "weights.bin").write_bytes(text.encode() * 100)
    return path


def _killed_between_renames(directory, old=None) -> dict:
    """What `swap_directory` leaves when killed after its first rename: `old` alone."""
    old = old or directory.with_name(directory.name + ".old")
    files = _tree(directory)
    os.replace(directory, old)
    return files


def test_a_lone_old_directory_is_put_back(tmp_path):
    export = _directory(tmp_path / "export", "first")
    files = _killed_between_renames(export)
    assert restore_swapped(export)
    assert _tree(export) == files and not (tmp_path / "export.old").exists()
    assert not restore_swapped(export)  # nothing to do now


def test_with_both_present_the_old_one_is_stale_and_goes_after_the_swap(tmp_path):
    export = _directory(tmp_path / "export", "current")
    _directory(tmp_path / "export.old", "stale")
    assert not restore_swapped(export)
    assert (export / "card.json").read_text() == "current"
    swap_directory(_directory(tmp_path / "new", "new"), export)
    assert (export / "card.json").read_text() == "new"
    assert not (tmp_path / "export.old").exists() and not (tmp_path / "new").exists()


def test_the_next_swap_puts_a_lone_old_directory_back_first(tmp_path):
    export = _directory(tmp_path / "export", "first")
    _killed_between_renames(export)
    swap_directory(_directory(tmp_path / "new", "second"), export)
    assert (export / "card.json").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_a_study_start_puts_back_its_export(tiny_dataset, tmp_path):
    config = StudyConfig(study="s", results=str(tmp_path), data=str(tiny_dataset))
    dataset = open_dataset(tiny_dataset)
    assert check_or_create(config, dataset, False) is False
    export = _directory(config.study_dir / "best" / "export", json.dumps({"trial_id": "3"}))
    files = _killed_between_renames(export)
    assert check_or_create(config, dataset, False) is True  # resuming: restored first
    assert _tree(export) == files and not export.with_name("export.old").exists()


def test_the_report_reads_a_lone_old_export_without_renaming_it(tmp_path):
    study_dir = write_study(tmp_path, "s", ["COMPLETED", "COMPLETED"])
    card = {"trial_id": "1", "test_metrics": {"bce": 0.2}}
    export = _directory(study_dir / "best" / "export", json.dumps(card))
    (export / "model_card.json").write_text(json.dumps(card))
    _killed_between_renames(export)
    summary = build_report(study_dir)
    assert summary.retrained.trial_id == "1"
    assert not export.exists() and export.with_name("export.old").is_dir()  # it only reads


def test_a_dataset_replace_killed_between_renames_is_put_back(tiny_dataset, tmp_path, capsys):
    data = tmp_path / "d"
    shutil.copytree(tiny_dataset, data)
    files = _killed_between_renames(data, replaced(data))
    assert main(["check", "--data", str(data)]) == 0  # a read restores it
    assert _tree(data) == files and not replaced(data).exists()
    _killed_between_renames(data, replaced(data))
    argv = ["generate", "--rows", "3000", "--output", str(data)]
    assert main(argv) == 2  # restored before anything, then: it exists
    assert "already exists (use --overwrite to replace it)" in capsys.readouterr().err
    assert _tree(data) == files and not replaced(data).exists()


def test_loading_an_export_puts_it_back_first(tmp_path):
    export = _directory(tmp_path / "export", "card")
    files = _killed_between_renames(export)
    with pytest.raises(DataError, match="model.keras: missing"):  # a fake export, but restored
        load_export(export)
    assert _tree(export) == files
