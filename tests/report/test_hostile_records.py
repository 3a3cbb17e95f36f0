"""Records are data (issue 35): one hostile record never stops `report` or `compare`.

A record nested 100,000 deep, a status or trial id that is matplotlib mathtext, a
choice the space lacks, a metric that is no number: each is a warning naming its file
and a report that still renders. A NaN objective is never the best; compare's terminal
text carries no escape sequence; a linked report/ is refused, never written through.
"""

from __future__ import annotations

import json

import pytest

from study.choice import best_trial
from study.cli import main
from study.errors import DataError
from study.report import build_report, load_study, plots, render
from study.store.records import TrialRecords
from study.testing.scripted import write_study

OSC52 = "\x1b]52;c;SGVsbG8=\x07"
MATH = r"$\frac{1}{0}$"
BROKEN = r"$\frac{1}$"  # mathtext that matplotlib fails to parse (ValueError)
FIGURES = ("objective", "hyperparameters", "learning_curves", "importances", "wall_time", "cost")


def _edit(path, **changes) -> None:
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record))


def _renders(study_dir) -> dict:
    """build_report's summary, after checking that every file of the report is there."""
    summary = build_report(study_dir)
    out = study_dir / "report"
    for name in ("index.html", "report.md", "report.json", *(f"{f}.png" for f in FIGURES)):
        assert (out / name).stat().st_size > 0, name
    return summary


@pytest.fixture
def study_dir(tmp_path):
    return write_study(tmp_path, "s", ["COMPLETED"] * 4 + ["FAILED"], seed=3)


def test_1_a_linked_report_folder_is_refused_never_written_through(study_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (study_dir / "report").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(DataError, match=r"s/report: a symbolic link or not a directory"):
        build_report(study_dir)
    assert list(elsewhere.iterdir()) == []


def test_2_compare_text_carries_no_escape_sequence(tmp_path, capsys):
    for name in ("a", "b"):
        study_dir = write_study(tmp_path, name, ["COMPLETED"] * 3, seed=1)
        best = load_study(study_dir).best().trial_id
        report = study_dir / "trials" / best / "report.json"
        record = json.loads(report.read_text())
        record["trial_id"] = f"{best}{OSC52}"
        record["hyperparameters"]["activation"] = "relu\x1b[2J\x9b2J\x7f\x1bc"
        report.write_text(json.dumps(record))
    argv = ["compare", "a", "b", "--results", str(tmp_path), "--output", str(tmp_path / "o")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "SGVsbG8=" not in out and "relu" in out
    assert not any(c in out for c in "\x1b\x07\x7f\x9b\x9c\x9d")
    assert not any(ord(c) < 32 and c not in "\n" for c in out)


def test_3_terminal_text_of_a_comparison_table():
    table = {
        "columns": [f"a:1{OSC52}", "b:2\x1b[31m"],
        "rows": {"status": ["COMPLETED\x1b[2J", "COMPLETED\x90x\x9c"], "x\x1bcy": [1.0, 2.0]},
        "differing": [],
    }
    text = render.compare_text(table)
    assert "a:1 " in text and "b:2" in text and "COMPLETED" in text and " xy " in text
    assert not any(ord(c) < 32 and c != "\n" or 0x7F <= ord(c) <= 0x9F for c in text)


def test_4_json_nested_100000_deep_is_skipped_with_a_warning(study_dir, caplog):
    (study_dir / "trials" / "2" / "report.json").write_text("[" * 100_000 + "]" * 100_000)
    summary = _renders(study_dir)
    assert "trials/2/report.json: JSON nested deeper than 64; not read; skipped" in caplog.text
    assert [r.trial_id for r in summary.trials].count("2") == 0
    assert len(summary.trials) == 4


def test_5_mathtext_in_a_trial_id_is_drawn_as_text_and_in_a_status_refused(study_dir, caplog):
    trials = study_dir / "trials"
    _edit(trials / "4" / "report.json", status=MATH + BROKEN)
    best = load_study(study_dir).best().trial_id
    _edit(trials / best / "report.json", trial_id=f"{best}{BROKEN}")
    summary = _renders(study_dir)
    assert (
        "trials/4/report.json: status '$\\\\frac{1}{0}$$\\\\frac{1}$' is not a trial status; "
        "trial skipped" in caplog.text
    )
    assert summary.best.trial_id == f"{best}{BROKEN}"
    assert "4" not in {r.trial_id for r in summary.trials}
    assert plots.plain(MATH) == r"\$\frac{1}{0}\$"


def test_6_an_unknown_choice_is_left_out_of_its_panel_with_a_warning(study_dir, caplog):
    trials = study_dir / "trials"
    record = json.loads((trials / "1" / "report.json").read_text())
    record["hyperparameters"]["activation"] = "quantum"
    record["hyperparameters"]["learning_rate"] = "fast"
    (trials / "1" / "report.json").write_text(json.dumps(record))
    summary = _renders(study_dir)
    assert "trial '1': activation = 'quantum' is not in the search space" in caplog.text
    assert "trial '1': learning_rate = 'fast' is not in the search space" in caplog.text
    assert len(summary.trials) == 5


def test_7_a_non_number_in_a_record_or_metrics_json_is_a_warning(study_dir, caplog):
    _edit(study_dir / "trials" / "3" / "report.json", objective="0.1; DROP TABLE")
    validation = study_dir / "best" / "validation"
    validation.mkdir(parents=True)
    good = {"particle": "pi", "variable": "eta", "p_low": 1.0, "p_high": 2.0, "chi2_ndf": 1.5,
            "ndf": 10, "chi2_ndf_binomial": 1.2, "efficiency_true": 0.5,
            "efficiency_model": 0.51}  # fmt: skip
    bad = {**good, "chi2_ndf": "lots", "p_low": {"x": 1}}
    metrics = {"trial_id": "0", "kinematic_bins": [good, bad], "kinematic_spec": "not a dict"}
    (validation / "metrics.json").write_text(json.dumps(metrics))
    summary = _renders(study_dir)
    assert "trials/3/report.json: objective is not a number; trial skipped" in caplog.text
    assert "metrics.json: 1 kinematic bins with a field that is not a number" in caplog.text
    assert [b.chi2_ndf for b in summary.validation.bins] == [1.5]
    assert "3" not in [r.trial_id for r in summary.trials]


def test_8_a_nan_or_infinite_objective_is_never_the_best(study_dir):
    trials = study_dir / "trials"
    _edit(trials / "0" / "report.json", objective=float("nan"))
    _edit(trials / "1" / "report.json", objective=float("-inf"))
    summary = _renders(study_dir)
    assert summary.best.trial_id not in ("0", "1")
    assert summary.best.objective == min(
        r.objective for r in summary.trials if r.trial_id in ("2", "3")
    )
    ranks = {r.trial_id: r.rank for r in summary.trials}
    assert ranks["0"] is None and ranks["1"] is None
    assert best_trial(TrialRecords(study_dir).reports()).trial_id == summary.best.trial_id


def test_9_linked_records_and_a_history_fifo_are_left_out_and_the_report_renders(
    study_dir, tmp_path, caplog
):
    import os

    trials = study_dir / "trials"
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"trial_id": "1", "status": "FAILED", "message": "secret"}))
    (trials / "1" / "report.json").unlink()
    (trials / "1" / "report.json").symlink_to(private)
    (trials / "2").rename(tmp_path / "2")
    (trials / "2").symlink_to(tmp_path / "2", target_is_directory=True)
    (trials / "3" / "history.csv").unlink()
    os.mkfifo(trials / "3" / "history.csv")  # read without blocking: refused
    summary = _renders(study_dir)
    assert sorted(r.trial_id for r in summary.trials) == ["0", "3", "4"]
    assert "secret" not in (study_dir / "report" / "report.json").read_text()
    assert "trials/1/report.json: a symbolic link; not read" in caplog.text
    assert "trials/'2': a link or no trial id; not read" in caplog.text
    assert "trials/3/history.csv: unreadable" in caplog.text
    assert private.read_text().count("secret") == 1 and not (tmp_path / "2" / "report").exists()


def test_10_an_error_line_naming_record_ids_carries_no_escape_sequence(tmp_path, capsys):
    study_dir = write_study(tmp_path, "a", ["COMPLETED"] * 2, seed=1)
    _edit(study_dir / "trials" / "1" / "report.json", trial_id=f"1{OSC52}")
    write_study(tmp_path, "b", ["COMPLETED"], seed=1)
    argv = ["compare", "a:7", "b", "--results", str(tmp_path), "--output", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no trial '7' (trials: 0, 1)" in err and "SGVsbG8=" not in err
    assert not any(ord(c) < 32 and c != "\n" or 0x7F <= ord(c) <= 0x9F for c in err)
