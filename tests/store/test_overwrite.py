"""store/overwrite.py: `--overwrite` deletes only a study; `prepare --overwrite` only a dataset."""

from __future__ import annotations

import json
import shutil

import pytest

from study.cli import main
from study.testing.presets import study_argv
from study.testing.scripted import write_study


def _files(root) -> dict:
    """Every file below `root` with its bytes: what must survive a refused overwrite."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _refused(capsys, argv, root) -> str:
    before = _files(root)
    assert before  # something to lose
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]
    assert _files(root) == before  # every file still there, unchanged
    return err[0]


def _user_files(folder) -> None:
    folder.mkdir(parents=True)
    (folder / "thesis.tex").write_text("mine")
    (folder / "plots").mkdir()
    (folder / "plots" / "a.png").write_bytes(b"\x89PNG" * 10)


def test_overwrite_of_the_data_root_deletes_nothing(tiny_dataset, tmp_path, capsys):
    shutil.copytree(tiny_dataset, tmp_path / "data" / "mine")  # the user's prepared data
    argv = study_argv(tiny_dataset, tmp_path, 1, "--overwrite", name="data")
    line = _refused(capsys, argv, tmp_path)
    assert "--overwrite deletes only a study" in line and "is the data root of" in line


def test_overwrite_of_a_prepared_dataset_deletes_nothing(tiny_dataset, tmp_path, capsys):
    shutil.copytree(tiny_dataset, tmp_path / "mine")
    argv = study_argv(tiny_dataset, tmp_path, 1, "--overwrite", name="mine")
    assert "is a prepared dataset; nothing deleted" in _refused(capsys, argv, tmp_path)


def test_overwrite_of_a_folder_that_is_not_a_study_deletes_nothing(tiny_dataset, tmp_path, capsys):
    _user_files(tmp_path / "notes")
    argv = study_argv(tiny_dataset, tmp_path, 1, "--overwrite", name="notes")
    assert "is not one (no study.json); nothing deleted" in _refused(capsys, argv, tmp_path)
    line = _refused(capsys, study_argv(tiny_dataset, tmp_path, 1, name="notes"), tmp_path)
    assert "exists and is not a study (no study.json)" in line
    assert "--overwrite" not in line  # never advised for a folder that is not a study


def test_overwrite_of_a_study_holding_a_dataset_deletes_nothing(tiny_dataset, tmp_path, capsys):
    study_dir = write_study(tmp_path, "s", ["COMPLETED", "FAILED"])
    shutil.copytree(tiny_dataset, study_dir / "inputs" / "mine")
    argv = study_argv(tiny_dataset, tmp_path, 1, "--overwrite")
    assert "holds a prepared dataset" in _refused(capsys, argv, tmp_path)
    shutil.rmtree(study_dir / "inputs")
    shutil.copytree(tiny_dataset, study_dir / "own")  # the study's own --data, inside it
    argv = study_argv(study_dir / "own", tmp_path, 1, "--overwrite")
    assert "holds the study's data" in _refused(capsys, argv, tmp_path)


def test_overwrite_of_a_study_starts_it_afresh(tiny_dataset, tmp_path, capsys):
    study_dir = write_study(tmp_path, "s", ["COMPLETED", "FAILED", "COMPLETED"])
    assert main(study_argv(tiny_dataset, tmp_path, 1, "--overwrite", "--no-retrain")) == 0
    assert "starting study s" in capsys.readouterr().out
    assert sorted(p.name for p in (study_dir / "trials").iterdir()) == ["0"]
    record = json.loads((study_dir / "study.json").read_text())
    assert record["data_fingerprint"] != "scripted"


@pytest.mark.parametrize("command", ["generate", "prepare"])
def test_dataset_overwrite_replaces_only_a_prepared_dataset(
    tiny_dataset, tmp_path, capsys, command
):
    source = ["--rows", "3000"] if command == "generate" else ["--input", str(tmp_path / "raw")]
    if command == "prepare":
        shutil.copytree(tiny_dataset / "train", tmp_path / "raw")  # feather files to prepare
    _user_files(tmp_path / "notes")
    _user_files(tmp_path / "proj" / "src")  # a project with a train/ folder: not a dataset
    (tmp_path / "proj" / "train").mkdir()
    (tmp_path / "proj" / "train" / "run.py").write_text("print('mine')")
    write_study(tmp_path, "s", ["COMPLETED"])
    for target in ("notes", "s", "proj"):
        argv = [command, *source, "--output", str(tmp_path / target), "--overwrite"]
        line = _refused(capsys, argv, tmp_path)
        assert "--overwrite replaces only a prepared dataset" in line
    line = _refused(capsys, [command, *source, "--output", str(tmp_path / "notes")], tmp_path)
    assert "is not a prepared dataset" in line and "--overwrite" not in line
    argv = ["generate", "--rows", "3000", "--output", str(tmp_path / "d")]
    assert main(argv) == 0
    assert main([command, *source, "--output", str(tmp_path / "d"), "--overwrite"]) == 0
    assert (tmp_path / "d" / "preprocessing.json").is_file()
    assert not list(tmp_path.glob(".d.*"))  # neither the temporary nor the old copy is left
