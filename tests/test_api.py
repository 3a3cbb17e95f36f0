"""The Python API runs the pipeline the command line runs, says what it does, and returns
objects: the trials as Optuna has them, the final fit (and why it is not the search's
best), its Optuna study, figures and HTML summaries that escape what the records hold."""

import io
import json
import logging
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import study
from study.api import progress
from study.errors import ConfigError
from study.store.records import TrialRecords
from study.testing.scripted import write_study

SCRIPT = """
import study
s = study.run(
    trials=2, data={data!r}, results={results!r}, study="api", report=False, tuner="random",
    fixed={{"width": 8, "n_blocks": 1, "batch_size": 512}},
    narrowed={{"learning_rate": "0.003:0.03"}}, max_epochs=2, patience_1=1, patience_2=1,
    retrain_recipe="trial", retrain_max_epochs=2,
)
print("best:", s.best.trial_id, s.best.status)
"""
TINY = dict(
    trials=2, study="api", report=False, tuner="random", time_budget=None,
    fixed={"width": 8, "n_blocks": 1, "batch_size": 512},
    narrowed={"learning_rate": "0.003:0.03"}, max_epochs=2, patience_1=1, patience_2=1,
    retrain_recipe="trial", retrain_max_epochs=2,
)  # fmt: skip
HOSTILE = "<script>alert('x')</script>"


def test_run_in_a_fresh_process_prints_the_trial_and_retrain_lines(tiny_dataset, tmp_path):
    script = textwrap.dedent(SCRIPT.format(data=str(tiny_dataset), results=str(tmp_path)))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out, err = done.stdout, done.stderr  # log lines on stderr, with no logging set up
    assert "trial 1 of 2 (id 0)" in err and "trial 2 of 2 (id 1)" in err  # the search's
    assert "  epoch   0  phase 1" in err
    assert "study api: 2 trials ended; best trial" in out
    assert "retraining trial" in err and "  retrain epoch   0  phase 1" in err
    assert "retrained, validated and exported to" in out
    assert "best: " in out and out.rstrip().endswith("COMPLETED")
    assert "INFO:study." not in err  # each line once, not again through absl's root handler


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(scope="module")
def ran(tiny_dataset, tmp_path_factory):
    """A tiny study run in this process as in a Jupyter kernel (a faked detection), its
    progress bars and the study's log records kept."""
    from tqdm.std import tqdm

    bars, records = [], Records()

    def recorded(**kwargs):
        bars.append(tqdm(file=io.StringIO(), **kwargs))
        return bars[-1]

    package = logging.getLogger("study")
    package.addHandler(records)
    level = package.level
    package.setLevel(logging.INFO)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(progress, "in_kernel", lambda: True)
            patch.setattr(progress, "bar", recorded)
            results = tmp_path_factory.mktemp("api")
            s = study.run(**TINY, data=str(tiny_dataset), results=str(results))
    finally:
        package.removeHandler(records)
        package.setLevel(level)
    return s, bars, records.records


def test_in_a_kernel_run_shows_bars_in_place_of_the_epoch_lines(ran):
    s, bars, records = ran
    trials, final = bars
    assert (trials.desc, trials.total, trials.n) == ("trials", 2, 2)
    assert final.desc == "final fit" and final.n == len(s.final.history) > 0
    assert not [r for r in records if r.name == progress.SEARCH]  # no trial or epoch line
    assert not [r for r in records if r.funcName == progress.FINAL_EPOCH]
    assert any("retraining trial" in r.getMessage() for r in records)  # the others pass
    for name in (progress.SEARCH, progress.FINAL):
        assert logging.getLogger(name).filters == []  # removed with the run's end


def test_outside_a_kernel_progress_changes_nothing(tmp_path):
    assert not progress.in_kernel()
    with progress.notebook_progress(None) as bars:
        assert bars is None
    assert logging.getLogger(progress.SEARCH).filters == []


def test_the_trials_have_optunas_columns(ran):
    s = ran[0]
    trials = s.trials
    assert list(trials["number"]) == [0, 1] and list(trials["trial_id"]) == ["0", "1"]
    assert list(trials["state"]) == ["COMPLETE", "COMPLETE"]
    assert trials["value"].tolist() == trials["objective"].tolist()
    assert trials["duration"].dtype.kind == "m" and (trials["duration"] > pd.Timedelta(0)).all()
    params = [c for c in trials.columns if c.startswith("params_")]
    assert params == [  # the searched ones; width, blocks and batch were fixed
        "params_activation", "params_optimizer", "params_learning_rate",
        "params_fine_tune_factor", "params_l2",
    ]  # fmt: skip
    assert trials["params_learning_rate"].between(0.003, 0.03).all()
    assert not [c for c in trials.columns if "tuner/" in c or c == "hyperparameters"]


def test_the_optuna_study_holds_the_studys_trials(ran):
    s = ran[0]
    mirrored = s.optuna()
    assert len(mirrored.trials) == len(s.trials) == 2
    assert mirrored.best_value == pytest.approx(s.best.objective)
    assert mirrored.best_trial.user_attrs["trial_id"] == s.best.trial_id


def test_the_final_fit_of_a_run(ran):
    s = ran[0]
    final = s.final
    card = json.loads((s.directory / "best" / "export" / "model_card.json").read_text())
    assert final.trial_id == s.best.trial_id == card["trial_id"] and final.note is None
    assert final.exported and final.hyperparameters == s.best.hyperparameters
    assert final.excess == pytest.approx(card["test_metrics"]["excess"]) and final.excess > 0
    assert final.test_cross_entropy == pytest.approx(card["test_metrics"]["test_cross_entropy"])
    assert final.converged is card["converged"]
    bins = final.bins
    assert len(bins) == 36 and {"particle", "variable", "p_low", "p_high", "ndf"} <= set(bins)
    assert "final fit: trial " in repr(final) and "excess" in final._repr_html_()


def test_the_figures_of_a_run(ran):
    from matplotlib.figure import Figure

    s = ran[0]
    files = sorted(s.directory.rglob("*"))
    curves = s.learning_curves()
    assert isinstance(curves, Figure) and len(curves.axes) == 2
    assert len(curves.axes[0].lines) == 2 * 2  # two trials, a line a phase
    assert len(curves.axes[1].lines) == 2 * 2  # the final fit's loss and val_bce
    assert len(s.learning_curves(trial="1").axes[0].lines) == 2
    assert len(s.learning_curves(trial="final").axes) == 1
    with pytest.raises(KeyError, match="no trial 7"):
        s.learning_curves(trial=7)
    scored = int((s.final.bins["ndf"] > 0).sum())
    worst = s.final.validation_figure(top=4)
    assert isinstance(worst, Figure) and len(worst.axes) == 2 * min(4, scored)
    assert len(s.final.validation_figure(("hadron", "mc_eta")).axes) == 2 * 6  # 6 slices
    assert len(s.final.validation_figure("features").axes) == 2 * 12  # 12 inputs
    importances = s.importances()  # 2 trials: too few, and the figure says so
    assert isinstance(importances, Figure) and "at least" in importances.axes[0].get_title()
    assert sorted(s.directory.rglob("*")) == files  # nothing drawn to disk


def _validation(trial_id: str, rows: int = 4_000) -> dict:
    """A real validation record (study/best/validation.py) of generated particles and a
    model a little off the truth."""
    from study.best.validation import json_ready, validate
    from study.data import synthetic

    frame = next(synthetic.generate(rows, seed=5))
    prob = np.clip(frame[synthetic.TRUTH].to_numpy() * 1.05, 0, 1)
    label = frame[synthetic.LABEL].to_numpy()
    metrics = validate(frame, label, prob, ["mc_eta", "mc_phi"], frame[synthetic.TRUTH])
    return {**json_ready(metrics), "trial_id": trial_id}


def _scripted_final(tmp_path, larger: bool):
    """A scripted study whose final fit took trial 2, within 1 % of the best (trial 0's
    objective made the lowest), `larger` or smaller than it; trial 3 failed with a hostile
    message, and the card's convergence note is hostile too."""
    directory = write_study(tmp_path, "s", ["COMPLETED"] * 3 + ["FAILED"])
    records = TrialRecords(directory)
    reports = {r.trial_id: r for r in records.reports()}
    best = replace(reports["0"], objective=0.1, parameters=5_000)
    chosen = replace(reports["2"], objective=0.101, parameters=9_000 if larger else 1_000)
    failed = replace(reports["3"], message=HOSTILE)
    for r in (best, chosen, replace(reports["1"], objective=0.3), failed):
        records.write_report(r)
    card = {
        "trial_id": "2", "hyperparameters": chosen.hyperparameters, "converged": False,
        "reason": HOSTILE, "date": "2020-01-01T00:00:00+00:00",
        "test_metrics": {"test_cross_entropy": 0.2, "bayes_cross_entropy": 0.15, "excess": 0.05},
    }  # fmt: skip
    (directory / "best" / "export").mkdir(parents=True)
    (directory / "best" / "export" / "model_card.json").write_text(json.dumps(card))
    (directory / "best" / "validation").mkdir()
    validation = json.dumps(_validation("2"), allow_nan=True)
    (directory / "best" / "validation" / "metrics.json").write_text(validation)
    return study.open(directory)


def test_the_final_fit_says_why_it_is_not_the_searchs_best(tmp_path):
    s = _scripted_final(tmp_path, larger=True)
    final = s.final
    assert final.trial_id == "2" and final.best_trial_id == s.best.trial_id == "0"
    assert final.excess == 0.05 and final.test_cross_entropy == 0.2 and final.converged is False
    assert final.note.startswith("the final fit retrained trial 2, not the search's best trial 0")
    assert "largest network within 0.003 nats (3 %)" in final.note and "9,000" in final.note
    assert final.note in repr(final) and final.note in s.summary()
    bins = final.bins
    chi2 = bins["chi2_ndf"].dropna().tolist()
    assert len(bins) == 36 and chi2 == sorted(chi2, reverse=True)  # worst first
    assert len(final.validation_figure(top=3).axes) == 6


def test_the_final_fit_says_the_reason_its_card_recorded(tmp_path):
    s = _scripted_final(tmp_path, larger=False)
    path = s.directory / "best" / "export" / "model_card.json"
    card = json.loads(path.read_text())
    path.write_text(json.dumps({**card, "chosen_because": "the largest network <b>near</b>"}))
    assert s.final.note.endswith("not the search's best trial 0: the largest network <b>near</b>")
    assert "&lt;b&gt;near" in s.final._repr_html_()


def test_a_final_fit_no_rule_picks_was_chosen_by_hand(tmp_path):
    final = _scripted_final(tmp_path, larger=False).final
    assert "chosen by hand (`run_study.py retrain --trial 2`)" in final.note


def test_the_html_escapes_what_the_records_hold(tmp_path):
    s = _scripted_final(tmp_path, larger=True)
    path = s.directory / "best" / "validation" / "metrics.json"
    metrics = json.loads(path.read_text())
    for m in metrics["kinematic_bins"]:
        m["particle"] = HOSTILE  # a bin's name, from a dataset's author
    path.write_text(json.dumps(metrics))
    for page in (s._repr_html_(), s.final._repr_html_()):
        assert "<script>" not in page and "&lt;script&gt;" in page
    assert s.final._repr_html_().count("&lt;script&gt;") >= 1 + 5  # the note, the worst 5
    assert HOSTILE in s.summary()  # plain text stays as written
    assert "last failure: trial 3: <script>" in s.summary()


def test_no_final_fit_no_mirror_and_scripted_trials(tmp_path):
    directory = write_study(tmp_path, "s", ["COMPLETED", "PRUNED", "FAILED", "RUNNING"])
    records = TrialRecords(directory)
    old = records.reports()[0]
    old.hyperparameters["tuner/epochs"] = 4  # Hyperband's bookkeeping in an old record
    records.write_report(old)
    s = study.open(directory)
    assert s.final is None and "final fit: none yet" in s.summary()
    trials = s.trials
    assert list(trials["state"]) == ["COMPLETE", "PRUNED", "FAIL", "RUNNING"]
    assert trials["value"].notna().tolist() == [True, False, False, False]
    assert len([c for c in trials.columns if c.startswith("params_")]) == 8  # none fixed
    assert not [c for c in trials.columns if "tuner/" in c]
    with pytest.raises(ConfigError, match="no Optuna mirror"):
        s.optuna()


def test_importances_of_enough_trials_are_bars(tmp_path):
    s = study.open(write_study(tmp_path, "s", ["COMPLETED"] * 20))
    figure = s.importances()
    assert len(figure.axes) == 1 and len(figure.axes[0].patches) == 8  # one bar a searched
    assert "fANOVA" in figure.axes[0].get_title()
