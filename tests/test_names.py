"""The rules for names that end up in code or paths (study/names.py), and the C name's
check at the config (issue 25)."""

import pytest

from study.cli import main
from study.config import StudyConfig
from study.errors import ConfigError
from study.names import c_name_problem, column_name_problem, file_name_problem

REFUSED_C_NAMES = {
    "int": "a C keyword", "while": "a C keyword", "_Bool": "a C keyword", "inline": "a C keyword",
    "restrict": "a C keyword", "main": "the C library", "expf": "the C library",
    "exp": "the C library", "tanhf": "the C library", "erff": "the C library",
    "malloc": "the C library", "memcpy": "the C library", "NULL": "the C library",
    "isnan": "the C library", "preprocess": "its own symbols", "interp": "its own symbols",
    "acceptance_W0": "its own symbols", "acc_forward_8": "its own symbols",
    "x_QM_3": "its own symbols", "_Foo": "reserved", "_foo": "reserved", "a__b": "reserved",
    "9lives": "a C identifier", "a-b": "a C identifier", "": "a C identifier",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(REFUSED_C_NAMES))
def test_a_c_name_that_could_clash_is_refused_by_the_config_check(name):
    with pytest.raises(ConfigError, match=f"c_name: .*{REFUSED_C_NAMES[name]}"):
        StudyConfig(c_name=name).check()


@pytest.mark.parametrize("name", ["acceptance", "lamarr_acc", "Acc2", "preprocessing", "W"])
def test_a_plain_c_name_passes(name):
    assert c_name_problem(name) is None
    StudyConfig(c_name=name).check()


def test_a_bad_c_name_stops_the_study_in_one_line_before_any_work(tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["--c-name", "int", "--results", str(results), "--trials", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: c_name: a C keyword, found 'int'"
    assert not results.exists()


def test_column_names():
    for good in ("mc_x", "p [GeV/c]", "eta (lab)", "is-mu.v2", "x" * 64):
        assert column_name_problem(good) is None
    assert "'*'" in column_name_problem("a */ b")
    assert "'\\n'" in column_name_problem("a\nb")
    assert "'#'" in column_name_problem("#include")
    assert "'\"'" in column_name_problem('say "hi"')
    assert "'é'" in column_name_problem("é")  # ASCII only
    assert "found 65" in column_name_problem("x" * 65)
    assert "found 0" in column_name_problem("")


def test_file_names():
    assert file_name_problem("pion") is None and file_name_problem("K0.s-1") is None
    for bad in ("../x", "..", ".", "a/b", "/etc", ".x", "a b", "x" * 65, ""):
        assert file_name_problem(bad), bad


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "--study", "../outside/victim"],
        ["retrain", "--study", ".."],
        ["compare", "../victim", "other"],
        ["--study", "../victim", "--trials", "1"],
        ["--role", "worker", "--oracle", "127.0.0.1:9", "--study", "a/../../b"],
    ],
)
def test_a_study_name_that_leaves_the_results_root_is_refused_by_every_command(
    argv, tmp_path, capsys
):
    results = tmp_path / "results"
    outside = tmp_path / "outside"
    assert main([*argv, "--results", str(results)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "expected a plain directory name" in err[0], err
    assert not outside.exists() and not (tmp_path / "victim").exists() and not results.exists()


def test_a_study_name_through_the_api_and_a_link_out_of_the_root(tmp_path):
    import study

    with pytest.raises(ConfigError, match="plain directory name"):
        study.run(study="../victim", results=str(tmp_path / "r"))
    (tmp_path / "r").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "r" / "linked").symlink_to(tmp_path / "elsewhere")
    assert main(["report", "--study", "linked", "--results", str(tmp_path / "r")]) == 2
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_study_record_naming_another_study_leads_nowhere_else(tmp_path):
    import json

    from study.store.study_file import read_config
    from study.testing.scripted import write_study

    write_study(tmp_path, "a", ["COMPLETED"])
    write_study(tmp_path, "b", ["COMPLETED"])
    path = tmp_path / "b" / "study.json"
    record = json.loads(path.read_text())
    record["config"]["study"] = "a"
    path.write_text(json.dumps(record))
    config = read_config(tmp_path / "b")
    assert config.study_dir == tmp_path / "b"


def test_the_study_command_refuses_a_study_folder_linked_out_of_the_root(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "study.json").write_text("{}")
    (tmp_path / "r" / "s").symlink_to(tmp_path / "elsewhere")
    argv = ["--results", str(tmp_path / "r"), "--study", "s", "--trials", "1", "--overwrite"]
    assert main(argv) == 2
    assert "resolves outside" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == ["study.json"]
