"""Search fidelity apart from the final fit: trials on a subsample, the retrain on the whole
split with its convergence reported, Hyperband rungs that continue and resume, the time budget."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from study import faults
from study.cli import main
from study.testing.presets import tiny

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--no-report", *tiny()]


def study(data, results, trials, *extra):
    return ["--trials", str(trials), "--data", str(data), "--results", str(results),
            "--study", "s", *TINY, *extra]  # fmt: skip


def run(argv, fault=None, timeout=600):
    """The study as a command: (exit status, stderr, wall seconds)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop(faults.VARIABLE, None)
    if fault:
        env[faults.VARIABLE] = fault
    begin = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "run_study.py", *argv], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - begin


def reports(results) -> dict:
    trials = Path(results) / "s" / "trials"
    return {p.parent.name: json.loads(p.read_text()) for p in trials.glob("*/report.json")}


def card(results) -> dict:
    return json.loads((Path(results) / "s" / "best" / "export" / "model_card.json").read_text())


@pytest.fixture(scope="module")
def capped(tiny_dataset, tmp_path_factory):
    """One trial on 1,000 of the training rows; its retrain capped at 1 epoch a phase."""
    results = tmp_path_factory.mktemp("fidelity")
    argv = study(tiny_dataset, results, 1, "--search-rows", "1000", "--retrain-max-epochs", "1")
    assert main(argv) == 0
    return results


def test_trials_search_a_subsample_and_the_retrain_uses_the_whole_split(capped, tiny_dataset):
    from study.data.dataset import open_dataset

    dataset = open_dataset(tiny_dataset)
    (report,) = reports(capped).values()
    assert (report["training_rows"], report["validation_rows"]) == (1000, 500)
    assert card(capped)["training_rows"] == dataset.train.num_rows > 2_500
    metrics = json.loads((capped / "s" / "best" / "validation" / "metrics.json").read_text())
    assert metrics["training_rows"] == dataset.train.num_rows


def test_a_capped_retrain_is_not_converged_and_says_so(capped):
    model_card = card(capped)
    assert model_card["converged"] is False and model_card["retrain_epochs"] == 2
    assert model_card["reason"] == (
        "phase 1 was still improving at its last epoch (1); "
        "phase 2 was still improving at its last epoch (1)"
    )
    metrics = json.loads((capped / "s" / "best" / "validation" / "metrics.json").read_text())
    assert metrics["converged"] is False


def test_a_retrain_that_stops_early_is_converged(capped, capsys):
    argv = ["retrain", "--results", str(capped), "--study", "s", "--retrain-max-epochs", "60"]
    assert main(argv) == 0
    model_card = card(capped)
    assert model_card["converged"] is True and model_card["reason"] is None
    assert 4 <= model_card["retrain_epochs"] < 120  # both phases stopped by patience
    assert "NOT converged" not in capsys.readouterr().out


@pytest.mark.parametrize("patience", [(1, 2), (2, 1)])
def test_the_retrain_stops_each_phase_after_its_own_patience(capped, patience):
    """--retrain-patience P1 --retrain-patience-2 P2: phase k of the retrain ends Pk epochs
    after its best one (the trials' --patience-1/-2 do not apply to it)."""
    import pandas as pd

    argv = ["retrain", "--results", str(capped), "--study", "s", "--retrain-max-epochs", "60",
            "--retrain-patience", str(patience[0]),
            "--retrain-patience-2", str(patience[1])]  # fmt: skip
    assert main(argv) == 0
    history = pd.read_csv(capped / "s" / "best" / "history.csv")
    for phase in (1, 2):
        values = history[history.phase == phase].val_bce.to_numpy()
        assert len(values) - 1 - values.argmin() == patience[phase - 1], (phase, values)


def test_report_and_terminal_flag_an_unconverged_model(capped, capsys):
    from study.report import build_report, render

    assert main(["retrain", "--results", str(capped), "--study", "s",
                 "--retrain-max-epochs", "1"]) == 0  # fmt: skip
    assert "NOT converged: phase 1 was still improving" in capsys.readouterr().out
    text = render.report_text(build_report(capped / "s"))
    assert "retrained model NOT converged: phase 1 was still improving" in text


@pytest.mark.slow
def test_hyperband_rungs_continue_their_trial_and_resume_after_kills(tiny_dataset, tmp_path):
    """--max-epochs 3: rungs of 2 and 6 global epochs, 5 trials then 2 promoted (7 trials);
    killed in the third trial and in the first promoted one, resumed to the end."""
    results = tmp_path / "r"
    argv = study(tiny_dataset, results, 7, "--tuner", "hyperband", "--no-retrain")
    for fault in ("kill:phase1@5", "kill:trial-end@2"):
        code, out, _ = run(argv, fault=fault)
        assert code == -signal.SIGKILL, out[-2000:]
    code, out, _ = run(argv)
    assert code == 0, out[-3000:]
    oracle = json.loads((results / "s" / "tuner" / "oracle.json").read_text())
    ids = [str(k) for k in range(7)]
    assert sorted(oracle["end_order"]) == ids  # every trial ended once
    found = reports(results)
    assert sorted(found) == ids and all(r["status"] == "COMPLETED" for r in found.values())
    promoted = [r for r in found.values() if r["rung"].get("trial_id")]
    assert len(promoted) == 2
    for r in promoted:
        parent = found[r["rung"]["trial_id"]]
        assert parent["rung"]["epochs"] == 2 and r["rung"]["epochs"] == 6
        assert r["hyperparameters"] == parent["hyperparameters"]
        history = (results / "s" / "trials" / r["trial_id"] / "history.csv").read_text()
        first_epoch = int(history.splitlines()[1].split(",")[0])
        assert first_epoch == 2  # continued from its parent's checkpoint, not from scratch


def test_a_time_budget_bounds_the_whole_study(tiny_dataset, tmp_path):
    budget = 100.0
    argv = study(tiny_dataset, tmp_path, 500, "--time-budget", f"{budget:.0f}s")
    code, out, wall = run(argv)
    assert code == 0, out[-3000:]
    assert "time budget:" in out and "no further trial" in out
    assert 0.5 * budget < wall <= 1.1 * budget, out[-3000:]
    assert 1 < len(reports(tmp_path)) < 500
    spent = json.loads((tmp_path / "s" / "budget.json").read_text())["spent_s"]
    assert spent <= wall
    # resumed: the budget is spent, so no trial starts; the study retrains and ends
    code, out, _ = run(argv)
    assert code == 0 and "no further trial" in out, out[-3000:]
