"""An export never throws the final fit away: a C that fails its check lands the export
without it (exit 3) and `export` builds it again; an export cut short is finished from
best/final/ by `export`, without training (issue 35)."""

import json
import shutil

import pytest

from study import faults
from study.cli import main
from study.testing.presets import study_argv, tiny


@pytest.fixture(scope="module")
def study(tiny_dataset, tmp_path_factory):
    results = tmp_path_factory.mktemp("recovery")
    argv = study_argv(tiny_dataset, results, 1, flags=["--no-report", *tiny(2, retrain_epochs=2)])
    assert main(argv) == 0
    return results, results / "s"


def _fault(monkeypatch, spec: str) -> None:
    monkeypatch.setenv(faults.VARIABLE, spec)
    monkeypatch.setattr(faults, "_passed", faults.Counter())


def _card(export) -> dict:
    return json.loads((export / "model_card.json").read_text())


def test_a_c_that_fails_its_check_lands_the_export_without_it(study, monkeypatch, capsys):
    results, directory = study
    export = directory / "best" / "export"
    _fault(monkeypatch, "fail:c-check")
    code = main(["retrain", "--results", str(results), "--study", "s"])
    out, err = capsys.readouterr()
    assert code == 3  # CCheckFailed's documented exit status
    errors = [line for line in err.splitlines() if line.startswith(("error", "internal"))]
    assert len(errors) == 1 and "from the float32 arithmetic it implements" in errors[0], err
    assert "`run_study.py export` builds it again" in errors[0]
    assert "C library: FAILED its check, set aside in" in out
    for name in ("model.keras", "saved_model", "preprocessing.json", "model_card.json"):
        assert (export / name).exists(), name
    assert not (export / "c").exists() and (export / "c-failed-check" / "acceptance.so").exists()
    c = _card(export)["c"]
    assert c["compiled"] is False and c["kept_aside"] == "c-failed-check"
    assert "differs by 0.001" in c["check_failed"]
    assert not (directory / "best" / "final").exists()  # the export landed: nothing to finish

    monkeypatch.delenv(faults.VARIABLE)
    assert main(["export", "--results", str(results), "--study", "s"]) == 0
    out = capsys.readouterr().out
    assert "export completed" in out and "compiled C (x86-64-v2)" in out
    c = _card(export)["c"]
    assert c["compiled"] and c["check"]["max_abs_difference_from_reference"] <= 2.0**-20
    assert (export / "c" / "acceptance.so").exists() and not (export / "c-failed-check").exists()


def test_an_export_cut_short_is_finished_without_training(study, monkeypatch, capsys):
    results, directory = study
    best = directory / "best"
    _fault(monkeypatch, "raise:export")  # written, not yet renamed into place
    assert main(["retrain", "--results", str(results), "--study", "s"]) == 1
    capsys.readouterr()
    assert (best / "final" / "model.keras").exists() and (best / "final" / "card.json").exists()
    shutil.rmtree(best / "export")  # a study whose first export was cut short
    history = (best / "history.csv").read_text()
    monkeypatch.delenv(faults.VARIABLE)
    assert main(["export", "--results", str(results), "--study", "s"]) == 0
    out = capsys.readouterr().out
    assert "export finished from best/final/" in out and "retrain epoch" not in out
    assert (best / "history.csv").read_text() == history  # no training
    card = _card(best / "export")
    assert card["c"]["check"]["rows"] > 1_000 and card["export_check"]["rows"] > 0
    assert card["trial_id"] and card["data_fingerprint"]
    assert not (best / "final").exists()


def test_export_refuses_links_in_the_export_and_writes_nothing_through_them(
    study, tmp_path, capsys
):
    """A linked model_card.json (another user's file) is refused, not followed; a linked
    saved_model/ or c/ in the export is never written through: the export is rebuilt from
    its regular files and swapped in."""
    results, directory = study
    export = directory / "best" / "export"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("theirs")
    shutil.rmtree(export / "saved_model")
    (export / "saved_model").symlink_to(victim)
    assert main(["export", "--results", str(results), "--study", "s"]) == 0
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert not (export / "saved_model").is_symlink() and (export / "saved_model").is_dir()
    card = export / "model_card.json"
    theirs = card.read_text().replace('"study": "s"', '"study": "theirs"')
    (victim / "card.json").write_text(theirs)
    card.unlink()
    card.symlink_to(victim / "card.json")
    assert main(["export", "--results", str(results), "--study", "s"]) == 2
    assert "expected a regular file, found a link" in capsys.readouterr().err
    assert (victim / "card.json").read_text() == theirs  # not read as ours, not rewritten
    assert sorted(p.name for p in victim.iterdir()) == ["card.json", "keep.txt"]
    card.unlink()  # the study's own card back, for the tests after this one
    card.write_text(theirs.replace('"study": "theirs"', '"study": "s"'))


def test_export_refuses_data_that_is_not_the_study_s(study, tmp_path, capsys):
    """Another dataset at the study's data path (or given by --data) would put its
    quantiles into the export: its fingerprint is not the card's, and it is refused."""
    from study.data.prepare import generate_dataset

    results, directory = study
    other = tmp_path / "other"
    generate_dataset(6_000, other, seed=12, chunk_size=3_000, rows_per_file=1_000)
    card = (directory / "best" / "export" / "model_card.json").read_text()
    code = main(["export", "--results", str(results), "--study", "s", "--data", str(other)])
    assert code == 2
    assert "not the data this export was validated on" in capsys.readouterr().err
    assert (directory / "best" / "export" / "model_card.json").read_text() == card


def test_a_linked_validation_folder_is_refused_before_training(study, tmp_path, capsys):
    """best/validation/ linked to another user's folder: retrain stops with one line
    before it trains, and nothing lands in the link's target."""
    results, directory = study
    validation = directory / "best" / "validation"
    aside = tmp_path / "validation.aside"
    validation.rename(aside)
    victim = tmp_path / "theirs"
    victim.mkdir()
    validation.symlink_to(victim)
    try:
        assert main(["retrain", "--results", str(results), "--study", "s"]) == 2
        assert "a symbolic link or not a directory; refused" in capsys.readouterr().err
        assert list(victim.iterdir()) == []
    finally:
        validation.unlink()
        aside.rename(validation)
