"""Every bad input stops with exit status 2 and one line naming file, column, problem."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from study.cli import main


def raw_frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "px": rng.normal(size=n),
            "py": rng.normal(size=n),
            "flag": rng.integers(0, 2, n).astype(float),
            "acceptance": rng.integers(0, 2, n).astype(float),
        }
    )


def write_raw(directory, frames, definitions=None):
    directory.mkdir(parents=True, exist_ok=True)
    for k, frame in enumerate(frames):
        frame.to_feather(directory / f"f{k}.feather")
    if definitions is not None:
        (directory / "definitions.json").write_text(json.dumps(definitions))
    return directory


def run_bad(capsys, argv, output=None):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    if output is not None:
        assert not output.exists()
        assert not list(output.parent.glob(f".{output.name}*"))
    return err[0]


def prepare(capsys, tmp_path, raw):
    return run_bad(
        capsys,
        ["prepare", "--input", str(raw), "--output", str(tmp_path / "out")],
        tmp_path / "out",
    )


def test_missing_path(capsys, tmp_path):
    line = prepare(capsys, tmp_path, tmp_path / "nowhere")
    assert "nowhere: no such file or directory" in line


def test_no_feather_files(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    assert "no *.feather files" in prepare(capsys, tmp_path, tmp_path / "empty")


def test_malformed_definitions(capsys, tmp_path):
    raw = write_raw(tmp_path / "raw", [raw_frame()])
    (raw / "definitions.json").write_text("{oops")
    assert "definitions.json: not valid JSON" in prepare(capsys, tmp_path, raw)
    (raw / "definitions.json").write_text(json.dumps({"features": "px", "labels": ["acceptance"]}))
    assert "key 'features' must be a list" in prepare(capsys, tmp_path, raw)


def test_listed_column_absent(capsys, tmp_path):
    raw = write_raw(
        tmp_path / "raw", [raw_frame()], {"features": ["px", "pz"], "labels": ["acceptance"]}
    )
    assert "f0.feather: column pz: listed but absent" in prepare(capsys, tmp_path, raw)


def test_label_absent(capsys, tmp_path):
    raw = write_raw(tmp_path / "raw", [raw_frame().drop(columns="acceptance")])
    assert "column acceptance: label column not found" in prepare(capsys, tmp_path, raw)


def test_different_schemas(capsys, tmp_path):
    raw = write_raw(tmp_path / "raw", [raw_frame(), raw_frame().drop(columns="py")])
    assert "f1.feather: schema differs from f0.feather" in prepare(capsys, tmp_path, raw)


def test_non_numeric_column(capsys, tmp_path):
    frame = raw_frame().assign(name="pion")
    raw = write_raw(
        tmp_path / "raw", [frame], {"features": ["px", "name"], "labels": ["acceptance"]}
    )
    assert "column name: not numeric" in prepare(capsys, tmp_path, raw)


@pytest.mark.parametrize(
    "column,value,kind",
    [
        ("px", np.nan, "NaN"),
        ("py", np.inf, "infinite"),
        ("acceptance", np.nan, "NaN"),
    ],
)
def test_nan_and_infinite(capsys, tmp_path, column, value, kind):
    frame = raw_frame()
    frame.loc[17, column] = value
    raw = write_raw(tmp_path / "raw", [raw_frame(seed=1), frame])
    line = prepare(capsys, tmp_path, raw)
    assert f"f1.feather: column {column}: 1 {kind} value(s), first at row 17" in line


def test_labels_outside_unit_interval(capsys, tmp_path):
    frame = raw_frame()
    frame.loc[3, "acceptance"] = 2.0
    raw = write_raw(tmp_path / "raw", [frame])
    assert "column acceptance: labels must lie in [0, 1], found [0, 2]" in prepare(
        capsys, tmp_path, raw
    )


def test_empty_dataset(capsys, tmp_path):
    raw = write_raw(tmp_path / "raw", [raw_frame().iloc[:0]])
    assert "the dataset is empty (0 rows)" in prepare(capsys, tmp_path, raw)


def test_not_arrow_ipc(capsys, tmp_path):
    raw = write_raw(tmp_path / "raw", [raw_frame()])
    (raw / "f1.feather").write_text("px,py\n1,2\n")
    assert "f1.feather: not an Arrow IPC (feather v2) file" in prepare(capsys, tmp_path, raw)


def test_existing_output_is_not_touched(capsys, tmp_path):
    raw = write_raw(tmp_path / "raw", [raw_frame()])
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    line = run_bad(capsys, ["prepare", "--input", str(raw), "--output", str(out)])
    assert "already exists and is not a prepared dataset" in line and "--overwrite" not in line
    assert (out / "keep.txt").read_text() == "mine"


@pytest.fixture
def prepared(tiny_dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset, copy)
    return copy


def test_prepared_dataset_checks_ok(capsys, prepared):
    assert main(["check", "--data", str(prepared)]) == 0
    assert "train_rows" in capsys.readouterr().out


def test_splits_with_different_features(capsys, prepared):
    defs = json.loads((prepared / "validation" / "definitions.json").read_text())
    defs["features"] = defs["features"][::-1]
    (prepared / "validation" / "definitions.json").write_text(json.dumps(defs))
    line = run_bad(capsys, ["check", "--data", str(prepared)])
    assert "validation/definitions.json: features differ from the train split's" in line


def test_preprocessing_mismatch(capsys, prepared):
    pre = json.loads((prepared / "preprocessing.json").read_text())
    pre["features"] = pre["features"][:-1]
    (prepared / "preprocessing.json").write_text(json.dumps(pre))
    line = run_bad(capsys, ["check", "--data", str(prepared)])
    assert "preprocessing.json: features" in line and "do not match" in line


def test_missing_split_and_definitions(capsys, prepared):
    (prepared / "test" / "definitions.json").unlink()
    assert "test/definitions.json: file not found" in run_bad(
        capsys, ["check", "--data", str(prepared)]
    )
    shutil.rmtree(prepared / "test")
    assert "missing split directory" in run_bad(capsys, ["check", "--data", str(prepared)])


HOSTILE = [
    'mc_x */ __attribute__((constructor)) static void f(void){ system("id > x"); } /* ',
    "#include <stdio.h>",
    "mc_y\nmc_z",
    'say "hi"',
    "x" * 65,
]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_column_name_is_refused_at_prepare_naming_it(capsys, tmp_path, name):
    raw = write_raw(tmp_path / "raw", [raw_frame().rename(columns={"py": name})])
    line = prepare(capsys, tmp_path, raw)  # the feather file's own column names
    assert f"f0.feather: column {repr(name)[:40]}" in line and "not a safe column name" in line
    (raw / "definitions.json").write_text(
        json.dumps({"features": ["px", name], "labels": ["acceptance"]})
    )
    line = prepare(capsys, tmp_path, raw)  # definitions.json's
    assert f"definitions.json: column {repr(name)[:40]}" in line


@pytest.mark.parametrize("name", HOSTILE[:4])
def test_a_hostile_name_in_a_prepared_dataset_is_refused_at_check(capsys, prepared, name):
    path = prepared / "train" / "definitions.json"
    definitions = json.loads(path.read_text())
    definitions["extras"] = [name]
    path.write_text(json.dumps(definitions))
    line = run_bad(capsys, ["check", "--data", str(prepared)])
    assert f"train/definitions.json: column {repr(name)[:40]}" in line
    assert "outside the safe set (letters, digits, _ . - [ ] ( ) / and space)" in line


def test_names_with_brackets_slashes_and_spaces_are_kept(capsys, tmp_path):
    names = {"px": "p [GeV/c]", "py": "eta (lab)", "flag": "is-mu.v2"}
    raw = write_raw(tmp_path / "raw", [raw_frame(400).rename(columns=names)])
    assert main(["prepare", "--input", str(raw), "--output", str(tmp_path / "out")]) == 0
    assert main(["check", "--data", str(tmp_path / "out")]) == 0
    assert "p [GeV/c]" in (tmp_path / "out" / "train" / "definitions.json").read_text()
