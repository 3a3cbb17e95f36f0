"""study/report: tables, best trial, importances, comparison, HTML in a real browser.

The studies here are scripted (study/testing/scripted.py): records written with the
tuner's own writers, objectives a known function of the hyperparameters.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import asdict, replace

import pytest

from study.cli import main
from study.report import build_report, compare, load_study
from study.report.analysis import importances, searched_names
from study.report.summary import ReportSummary
from study.testing.scripted import scripted_objective, write_study

STATUSES = ["COMPLETED"] * 6 + ["FAILED", "COMPLETED", "RUNNING", "COMPLETED"]


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    return write_study(tmp_path_factory.mktemp("results"), "s", STATUSES, seed=3)


@pytest.fixture(scope="module")
def summary(study_dir):
    return build_report(study_dir, top=3)


def test_table_sorted_by_objective_then_others(summary, study_dir):
    rows = summary.trials
    assert len(rows) == len(STATUSES)
    done = [r for r in rows if r.status == "COMPLETED"]
    assert len(done) == 8 and rows[:8] == done
    objectives = [r.objective for r in done]
    assert objectives == sorted(objectives)
    assert [r.rank for r in done] == list(range(1, 9))
    # each objective is the scripted function of the trial's own hyperparameters
    for r in done:
        assert r.objective == pytest.approx(scripted_objective(r.hyperparameters))
    # the running trial of a study whose process is gone was killed; failed comes last
    assert [(r.trial_id, r.status, r.rank) for r in rows[8:]] == [
        ("8", "KILLED", None),
        ("6", "FAILED", None),
    ]
    assert summary.counts == {"COMPLETED": 8, "FAILED": 1, "KILLED": 1}
    assert summary.state.startswith(
        "stopped, a trial was cut (run the study again to resume): 9 of 10 trials ended "
        "(8 completed, 1 failed, 1 killed); last written "
    )


def test_best_trial(summary):
    done = [r for r in summary.trials if r.status == "COMPLETED"]
    best = min(done, key=lambda r: r.objective)
    assert summary.best.trial_id == best.trial_id == done[0].trial_id
    assert summary.best.objective == best.objective


def test_importances_cover_every_searched_hyperparameter(tmp_path):
    study = load_study(write_study(tmp_path, "many", ["COMPLETED"] * 16, seed=3))
    values = importances(study).values
    assert set(values) == set(searched_names(study))
    assert len(values) == 8
    assert sum(values.values()) == pytest.approx(1.0, abs=1e-9)
    assert all(v >= 0 for v in values.values())


def test_importances_find_the_hyperparameter_that_matters(tmp_path):
    # 30 trials, every hyperparameter fixed but learning rate, optimizer and width;
    # the scripted objective ignores width entirely.
    fixed = {"n_blocks": 2, "activation": "tanh", "batch_size": 512, "l2": 1e-4}
    fixed["fine_tune_factor"] = 0.1
    study = load_study(write_study(tmp_path, "f", ["COMPLETED"] * 30, seed=5, fixed=fixed))
    values = importances(study).values
    assert set(values) == {"learning_rate", "optimizer", "width"}
    assert max(values, key=values.get) == "learning_rate"
    assert values["width"] < values["learning_rate"] / 3


def test_importances_need_two_completed_trials_a_searched_hyperparameter(tmp_path, summary):
    study = load_study(write_study(tmp_path, "few", ["COMPLETED"] * 15 + ["FAILED"] * 3))
    result = importances(study)
    assert result.values == {}
    assert result.note.startswith("importances need at least 16 completed trials (2 per ")
    assert "this study has 15" in result.note
    assert summary.importances == {} and "this study has 8" in summary.importance_note


def test_report_files_and_failed_trial_shown(summary, study_dir):
    out = study_dir / "report"
    for name in summary.figures.values():
        assert (out / name).stat().st_size > 1000
    html = (out / "index.html").read_text()
    assert html.count('<tr class="') == len(STATUSES)
    assert '<tr class="FAILED">' in html and "loss is nan at epoch 0 (trial 6)" in html
    assert '<tr class="KILLED">' in html
    md = (out / "report.md").read_text()
    assert md.count("| COMPLETED |") == 8 and "| FAILED |" in md
    written = json.loads((out / "report.json").read_text())
    assert written["best"] == asdict(summary.best) and "files" not in written
    assert ReportSummary.from_dict(written) == replace(summary, files={})  # read back whole
    assert summary.to_dict()["files"]["html"] == str(out / "index.html")


PAYLOAD = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _edit(path, **changes) -> None:
    record = json.loads(path.read_text())
    for key, value in changes.items():
        target = record
        *parents, last = key.split("__")
        for parent in parents:
            target = target[parent]
        target[last] = value
    path.write_text(json.dumps(record))


def test_every_record_value_is_escaped_in_html_and_markdown(tmp_path, caplog):
    """A hostile value in each record field (study name, failure message, a hyperparameter
    value) is text in index.html and report.md, never markup; a status that is none is
    refused as the record is read (its trial left out, with a warning)."""
    study_dir = write_study(tmp_path, "s", ["COMPLETED"] * 3 + ["FAILED", "COMPLETED"], seed=3)
    trials = study_dir / "trials"
    _edit(study_dir / "study.json", config__study=PAYLOAD)
    message = PAYLOAD + "\n| cell | `code` [link](javascript:x) **bold** _it_ & co"
    _edit(trials / "3" / "report.json", message=message, hyperparameters__activation=PAYLOAD)
    _edit(trials / "4" / "report.json", status=PAYLOAD)
    with caplog.at_level("WARNING"):
        build_report(study_dir)
    assert f"trials/4/report.json: status {PAYLOAD!r} is not a trial status" in caplog.text
    html = (study_dir / "report" / "index.html").read_text()
    md = (study_dir / "report" / "report.md").read_text()
    assert "<script" not in html.lower() and "<script" not in md.lower()
    assert f"<title>Study {ESCAPED}</title>" in html and f"<h1>Study {ESCAPED}</h1>" in html
    assert html.count(f"<td>{ESCAPED}</td>") == 1  # the hyperparameter's cell
    assert f"<li>trial 3 failed: {ESCAPED}" in html and "&amp; co" in html
    assert html.count('<tr class="') == 4
    assert md.startswith(f"# Study {ESCAPED}\n")
    assert md.count(f"| {ESCAPED} |") == 1
    line = next(x for x in md.splitlines() if x.startswith("- trial 3 failed: "))
    assert line == (
        f"- trial 3 failed: {ESCAPED} \\| cell \\| \\`code\\` \\[link\\](javascript:x) "
        "\\*\\*bold\\*\\* \\_it\\_ &amp; co"
    )
    table = [x for x in md.splitlines() if x.startswith("| ")]
    assert {x.count(" | ") for x in table} == {table[0].count(" | ")}  # no cell broke a row


def test_running_study_shows_running_trial(tmp_path):
    study_dir = write_study(tmp_path, "live", ["COMPLETED", "COMPLETED", "RUNNING"])
    record = {"pid": os.getpid(), "host": socket.gethostname(), "since": "now"}
    (study_dir / ".lock").write_text(json.dumps(record))
    summary = build_report(study_dir)
    assert summary.state.startswith(f"running (pid {os.getpid()} on host")
    assert [r.status for r in summary.trials] == ["COMPLETED", "COMPLETED", "RUNNING"]


def test_compare_highlights_exactly_the_differing_hyperparameters(tmp_path):
    a = write_study(tmp_path, "a", ["COMPLETED"] * 3, seed=1)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    report = b / "trials" / "1" / "report.json"
    record = json.loads(report.read_text())
    record["hyperparameters"].update(width=999, optimizer="sgd")
    report.write_text(json.dumps(record))
    table = compare(["a:1", "b:1", "a:1"], tmp_path, tmp_path / "cmp")
    assert table["columns"] == ["a:1", "b:1", "a:1"]
    assert sorted(table["differing"]) == ["optimizer", "width"]
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert html.count('<tr class="differ">') == 2
    assert (
        "<td>optimizer</td>"
        in html.split('<tr class="differ">')[1] + html.split('<tr class="differ">')[2]
    )
    assert (tmp_path / "cmp" / "compare_curves.png").stat().st_size > 1000
    # a study name alone means its best trial
    best = load_study(a).best().trial_id
    assert compare(["a", "b"], tmp_path, tmp_path / "c2")["columns"] == [
        f"a:{best}",
        f"b:{load_study(b).best().trial_id}",
    ]


def test_cli_report_json_and_compare(tmp_path, capsys):
    write_study(tmp_path, "x", ["COMPLETED", "FAILED", "COMPLETED"])
    assert main(["report", "--study", "x", "--results", str(tmp_path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"] == {"COMPLETED": 2, "FAILED": 1}
    assert main(["report", "--study", "x", "--results", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "trials: 2 completed, 1 failed (3 recorded)" in text
    assert "trial 1 failed: loss is nan" in text
    argv = ["compare", "x:0", "x:2", "--results", str(tmp_path), "--output", str(tmp_path / "o")]
    assert main([*argv, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["columns"] == ["x:0", "x:2"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["report", "--study", "nope"], "nope: no such study (no study.json)"),
        (["compare", "x:0"], "compare: give at least two studies"),
        (["compare", "x:0", "x:7"], "no trial '7' (trials: 0, 1)"),
        (["compare", "x", "nope"], "nope: no such study"),
    ],
)
def test_cli_bad_input(tmp_path, capsys, argv, message):
    write_study(tmp_path, "x", ["COMPLETED", "FAILED"])
    assert main([*argv, "--results", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.browser
def test_report_renders_in_headless_chromium(summary, study_dir, browser):
    """Every image loads and the trials table has one row per trial, in a real browser."""
    driver = browser
    driver.get((study_dir / "report" / "index.html").resolve().as_uri())
    images = driver.execute_script(
        "return Array.from(document.images).map("
        "i => [i.getAttribute('src'), i.complete, i.naturalWidth]);"
    )
    rows = driver.execute_script("return document.querySelectorAll('#trials tbody tr').length;")
    assert sorted(src for src, _, _ in images) == sorted(summary.figures.values())
    broken = [src for src, complete, width in images if not complete or width == 0]
    assert broken == []
    assert rows == len(STATUSES)


def test_tensorboard_logs_and_report_link(tiny_dataset, tmp_path, capsys):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    tiny = ["--fix", "width=8", "--fix", "n_blocks=1", "--max-epochs", "2"]
    tiny += ["--patience-1", "1", "--patience-2", "1", "--no-retrain"]
    argv = ["--trials", "1", "--data", str(tiny_dataset), "--results", str(tmp_path)]
    assert main([*argv, "--study", "tb", *tiny, "--tensorboard"]) == 0
    assert "report: " in capsys.readouterr().out
    board = tmp_path / "tb" / "trials" / "0" / "tensorboard"
    found = set()
    for path in board.rglob("events.*"):
        for event in EventFileLoader(str(path)).Load():
            found |= {(path.parent.name, v.tag) for v in event.summary.value}
    assert ("tensorboard", "_hparams_/session_start_info") in found  # HParams dashboard
    assert {("train", "epoch_loss"), ("validation", "epoch_bce")} <= found
    html = (tmp_path / "tb" / "report" / "index.html").read_text()
    assert '<a href="../trials/0/tensorboard">0</a>' in html
    assert "tensorboard --logdir ../trials" in html


def test_pruned_trials_listed_after_completed_and_never_best(tmp_path):
    study_dir = write_study(tmp_path, "p", ["COMPLETED", "PRUNED", "COMPLETED", "PRUNED"])
    for trial_id in ("1", "3"):  # a pruned trial with the lowest value is still not the best
        path = study_dir / "trials" / trial_id / "report.json"
        record = json.loads(path.read_text())
        record["objective"] = 0.01 * int(trial_id)
        path.write_text(json.dumps(record))
    summary = build_report(study_dir)
    order = [(r.trial_id, r.status, r.rank) for r in summary.trials]
    assert [o[1] for o in order] == ["COMPLETED", "COMPLETED", "PRUNED", "PRUNED"]
    assert order[2:] == [("1", "PRUNED", None), ("3", "PRUNED", None)]
    assert summary.best.trial_id in ("0", "2")
    assert (study_dir / "report" / "index.html").read_text().count('<tr class="PRUNED">') == 2
