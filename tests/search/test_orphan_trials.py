"""A study killed inside keras-tuner's `create_trial`, after it wrote the new trial's
trial.json and before it saved oracle.json (the landing CI's killed --parallel study lost
its trial 2 there): the resumed oracle runs that trial next, with its values, and draws no
new trial with the same values; every one of max_trials trials ends once."""

from __future__ import annotations

import keras_tuner
import pytest

from study.config import StudyConfig
from study.search import kt_compat, oracles
from study.space import SPACE, declare
from study.training.schedule import EPOCH_METRIC, MONITOR


def made(tmp_path, tuner: str):
    config = StudyConfig(tuner=tuner, results=str(tmp_path), trials=3, prune="none")
    oracle = oracles.make_oracle(config, n_inputs=12)
    oracle._set_project_dir(str(tmp_path), "tuner")
    oracle.verbose = 0
    hp = keras_tuner.HyperParameters()
    declare(hp, SPACE)
    oracle.update_space(hp)
    if (tmp_path / "tuner" / "oracle.json").exists():
        oracle.reload()
    return oracle


def finish(oracle, trial, value: float) -> None:
    oracle.update_trial(trial.trial_id, {EPOCH_METRIC: value}, step=0)
    oracle.update_trial(trial.trial_id, {MONITOR: value}, step=0)
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def searched(trial) -> dict:
    return {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}


@pytest.mark.parametrize("tuner", ["random", "bayesian", "hyperband", "tpe"])
def test_a_trial_created_but_never_saved_in_the_oracle_runs_after_the_resume(tmp_path, tuner):
    first = made(tmp_path, tuner)
    finish(first, first.create_trial("local0"), 0.7)
    first.save = lambda: None  # killed here: trial_1/trial.json written, oracle.json not
    orphan = first.create_trial("local0")
    assert orphan.trial_id == "1" and (tmp_path / "tuner" / "trial_1" / "trial.json").exists()

    resumed = made(tmp_path, tuner)
    assert kt_compat.retry_queue(resumed) == ["1"]
    again = resumed.create_trial("local1")
    assert again.trial_id == "1" and searched(again) == searched(orphan)
    finish(resumed, again, 0.6)
    new = resumed.create_trial("local1")
    assert new.trial_id == "2"
    if tuner in ("random", "bayesian"):  # keras-tuner's own draws: none repeated
        assert searched(new) != searched(orphan)
    finish(resumed, new, 0.65)
    assert resumed.create_trial("local1").status == "STOPPED"
    assert sorted(resumed.end_order) == ["0", "1", "2"]
    assert {t.status for t in resumed.trials.values()} == {"COMPLETED"}
