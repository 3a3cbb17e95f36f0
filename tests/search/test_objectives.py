"""--objectives val_bce,cost: Optuna's multi-objective search inside keras-tuner's lifecycle."""

from __future__ import annotations

import logging
import re

import optuna
import pytest

from study.choice import choose_trial, pareto_reports
from study.cli import main
from study.config import StudyConfig
from study.errors import ConfigError
from study.store.records import TrialRecords
from study.testing.inspect import optuna_study
from study.testing.presets import STABLE_RATES
from study.testing.scripted import write_study
from study.training import cost
from tests.search.test_oracle import make_oracle, phases, run

Done = optuna.trial.TrialState


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"tuner": "random"}, "needs an Optuna tuner (tpe, gp), found tuner random"),
        ({"tuner": "cmaes"}, "found tuner cmaes"),
        ({"tuner": "tpe", "prune": "median"}, "single-objective studies only"),
        ({"tuner": "tpe", "objectives": "cost"}, "objectives: expected one of"),
    ],
)
def test_refused_combinations(changes, message):
    config = StudyConfig(**{"objectives": "val_bce,cost", **changes})
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.check()


def _ns(values: dict, inputs: int = 12) -> float:
    flops = cost.flops_per_particle(inputs, int(values["width"]), int(values["n_blocks"]))
    return cost.estimated_c_ns(flops)


def _oracle(path):
    return make_oracle(path, pruner="none", trials=12, objectives="val_bce,cost", cost_inputs=12)


def test_the_optuna_study_has_both_objectives_and_its_front(tmp_path):
    oracle = _oracle(tmp_path / "a")
    for i in range(8):
        run(oracle, phases(0.2 + 0.013 * ((i * 5) % 7)))
    study = optuna_study(oracle)
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE] * 2
    assert [t.state for t in study.trials] == [Done.COMPLETE] * 8
    points = []
    for kt_trial, told in zip(oracle.trials.values(), study.trials, strict=True):
        ns = _ns(kt_trial.hyperparameters.values)
        assert told.values == pytest.approx([kt_trial.score, ns], rel=1e-12)
        points.append((str(told.number), ns, kt_trial.score))
    front = sorted(int(n) for n in cost.pareto_front(points))
    assert sorted(t.number for t in study.best_trials) == front

    # a reloaded oracle rebuilds the same two-objective trials from keras-tuner's records
    oracle.save()
    resumed = _oracle(tmp_path / "a")
    resumed.reload()
    assert [t.values for t in optuna_study(resumed).trials] == [t.values for t in study.trials]


def test_retrain_trial_says_whether_it_is_on_the_front(tmp_path, caplog):
    write_study(tmp_path, "s", ["COMPLETED"] * 10)
    config = StudyConfig(study="s", results=str(tmp_path), tuner="tpe", objectives="val_bce,cost")
    reports = TrialRecords(config.study_dir).reports()
    front = pareto_reports(reports)
    assert [r.trial_id for r in front] == cost.pareto_front(
        [(r.trial_id, _ns(r.hyperparameters), r.objective) for r in reports]
    )
    off = next(r for r in reports if r not in front)
    with caplog.at_level(logging.INFO, logger="study.choice"):
        assert choose_trial(config, front[-1].trial_id) == front[-1]
        choose_trial(config, off.trial_id)
    assert f"trial {front[-1].trial_id} is on the Pareto front" in caplog.text
    assert f"trial {off.trial_id} is not on the Pareto front" in caplog.text


def test_a_tiny_multi_objective_study_prints_its_front(tiny_dataset, tmp_path, capsys):
    argv = [
        "--trials", "4", "--data", str(tiny_dataset), "--results", str(tmp_path),
        "--study", "mo", "--no-report", "--no-retrain", "--tuner", "tpe",
        "--objectives", "val_bce,cost", "--narrow", "width=4:32", "--fix", "n_blocks=1",
        "--fix", "batch_size=512", *STABLE_RATES, "--max-epochs", "2",
        "--patience-1", "1", "--patience-2", "1",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    reports = TrialRecords(tmp_path / "mo").reports()
    assert len(reports) == 4
    front = pareto_reports(reports)
    printed = re.findall(r"trial (\d+): ([0-9.]+), ([0-9,]+) ns", out)
    assert [p[0] for p in printed] == [r.trial_id for r in front]
    assert f"Pareto front (val_bce, estimated C ns a particle), {len(front)} trials" in out
