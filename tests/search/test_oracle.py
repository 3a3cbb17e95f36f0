"""study/search/optuna_oracle.py: Optuna sampling and pruning inside keras-tuner, without training.

A stub drives the oracle as the tuner does: create a trial, report a scripted
validation curve epoch by epoch (global epochs, both phases), stop when the
oracle answers STOPPED, report the objective, end the trial.
"""

from __future__ import annotations

import keras_tuner
import optuna
import pytest

from study.search.optuna_oracle import OptunaOracle, distributions
from study.search.oracles import OBJECTIVE
from study.space import SPACE, declare
from study.testing.inspect import optuna_study
from study.training.schedule import EPOCH_METRIC, MONITOR

Done = optuna.trial.TrialState


def make_oracle(tmp_path, sampler="tpe", pruner="median", trials=30, seed=1, **more):
    oracle = OptunaOracle(
        sampler=sampler,
        pruner=pruner,
        max_epochs=5,
        objective=OBJECTIVE,
        max_trials=trials,
        seed=seed,
        max_consecutive_failed_trials=3,
        **more,
    )
    oracle._set_project_dir(str(tmp_path), "tuner")
    oracle.verbose = 0
    hp = keras_tuner.HyperParameters()
    declare(hp, SPACE)
    oracle.update_space(hp)
    return oracle


def run(oracle, curve: list[float]) -> tuple[str, int | None]:
    """One trial replaying `curve` (val_bce per global epoch); returns (id, pruned-at epoch)."""
    trial = oracle.create_trial("tuner0")
    stopped = None
    for epoch, value in enumerate(curve):
        told = oracle.update_trial(trial.trial_id, {EPOCH_METRIC: value}, step=epoch)
        if told.status == "STOPPED":
            stopped = epoch
            break
    seen = curve[: (stopped if stopped is not None else len(curve) - 1) + 1]
    best = min(range(len(seen)), key=seen.__getitem__)
    oracle.update_trial(trial.trial_id, {MONITOR: seen[best]}, step=best)
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    return trial.trial_id, stopped


def phases(level: float, late: float = 0.0) -> list[float]:
    """5 epochs of phase 1 then 5 of phase 2 falling towards `level`; `late` adds to phase 2."""
    one = [level + 0.3 / (e + 1) for e in range(5)]
    two = [level + 0.05 / (e + 1) + late for e in range(5)]
    return one + two


def test_distributions_for_every_hyperparameter_type():
    hp = keras_tuner.HyperParameters()
    hp.Int("int", 1, 16)
    hp.Int("int_step", 0, 20, step=4)
    hp.Int("int_log", 16, 512, sampling="log")
    hp.Float("float", 0.0, 1.0)
    hp.Float("float_step", 0.0, 1.0, step=0.25)
    hp.Float("float_log", 1e-4, 1e-1, sampling="log")
    hp.Choice("choice", ["adam", "rmsprop"])
    hp.Choice("one_choice", [512])
    hp.Boolean("flag")
    hp.Fixed("fixed", 7)
    searched, fixed = distributions(hp)
    od = optuna.distributions
    assert searched == {
        "int": od.IntDistribution(1, 16),
        "int_step": od.IntDistribution(0, 20, step=4),
        "int_log": od.IntDistribution(16, 512, log=True),
        "float": od.FloatDistribution(0.0, 1.0),
        "float_step": od.FloatDistribution(0.0, 1.0, step=0.25),
        "float_log": od.FloatDistribution(1e-4, 1e-1, log=True),
        "choice": od.CategoricalDistribution(["adam", "rmsprop"]),
        "flag": od.CategoricalDistribution([False, True]),
    }
    assert fixed == {"one_choice": 512, "fixed": 7}
    bad = keras_tuner.HyperParameters()
    bad.Float("x", 1e-3, 1.0, sampling="reverse_log")
    with pytest.raises(ValueError, match="x: reverse_log sampling has no Optuna form"):
        distributions(bad)


@pytest.mark.parametrize("sampler", ["tpe", "cmaes"])
def test_values_come_from_the_space(tmp_path, sampler):
    oracle = make_oracle(tmp_path, sampler=sampler, pruner="none")
    for _ in range(4):
        run(oracle, phases(0.2))
    for trial in oracle.trials.values():
        v = trial.hyperparameters.values
        assert set(v) == set(SPACE)
        assert 1 <= v["n_blocks"] <= 16 and 16 <= v["width"] <= 512
        assert 1e-4 <= v["learning_rate"] <= 3e-2 and v["optimizer"] in ("adam", "rmsprop", "nadam")
    assert [t.state for t in optuna_study(oracle).trials] == [Done.COMPLETE] * 4


def test_median_pruner_spares_warm_up_trials_and_prunes_a_bad_curve(tmp_path):
    oracle = make_oracle(tmp_path, trials=30)  # median pruner: 3 start-up trials, 2 warm-up epochs
    # the first trials are never pruned, however bad the later ones look beside them
    warm = [run(oracle, phases(level)) for level in (0.5, 0.2, 0.21)]
    assert [stopped for _, stopped in warm] == [None, None, None]
    good_id, good_stop = run(oracle, phases(0.19))
    assert good_stop is None
    bad_id, bad_stop = run(oracle, phases(0.6))
    assert bad_stop == 2  # the first epoch after the warm-up
    assert oracle.pruned == {bad_id}
    states = {t.number: t.state for t in optuna_study(oracle).trials}
    assert list(states.values()) == [Done.COMPLETE] * 4 + [Done.PRUNED]
    assert oracle.trials[bad_id].status == "COMPLETED"  # ended, with the best value it reached
    assert oracle.trials[bad_id].score == pytest.approx(phases(0.6)[2])


def test_pruning_across_the_phase_switch(tmp_path):
    oracle = make_oracle(tmp_path, trials=30)
    for level in (0.2, 0.21, 0.22, 0.2):
        assert run(oracle, phases(level))[1] is None
    # as good as the others in phase 1, clearly worse once fine-tuning starts (epoch 5)
    trial_id, stopped = run(oracle, phases(0.2, late=0.2))
    assert stopped == 5
    assert oracle.pruned == {trial_id}


def test_hyperband_prunes_only_at_rungs(tmp_path):
    oracle = make_oracle(tmp_path, pruner="hyperband", trials=30)
    stops = [run(oracle, phases(0.2 + 0.1 * (i % 3)))[1] for i in range(12)]
    pruned = [s for s in stops if s is not None]
    assert pruned, "hyperband pruned nothing in 12 trials of three clearly different levels"
    # successive halving, min_resource 2, factor 3: rungs at global epochs 2 and 6
    assert set(pruned) <= {2, 6}, stops


def test_reload_rebuilds_the_optuna_study_and_samples_as_uninterrupted(tmp_path):
    curves = [phases(0.2 + 0.05 * (i % 4), late=0.3 * (i == 5)) for i in range(8)]
    straight = make_oracle(tmp_path / "a", trials=10)
    for curve in curves:
        run(straight, curve)
    straight_next = straight.create_trial("tuner0").hyperparameters.values

    first = make_oracle(tmp_path / "b", trials=10)
    for curve in curves[:5]:
        run(first, curve)
    killed = first.create_trial("tuner0")  # killed mid-trial: state files are all that is left
    first.update_trial(killed.trial_id, {EPOCH_METRIC: 0.9}, step=0)
    del first

    resumed = make_oracle(tmp_path / "b", trials=10)
    resumed.reload()
    study = optuna_study(resumed)
    # the five ended trials, pruned ones included; the killed one is not ended
    expected = [t.state for t in optuna_study(straight).trials[:5]]
    assert [t.state for t in study.trials] == expected and Done.PRUNED in expected
    assert study.trials[1].intermediate_values == dict(enumerate(curves[1]))
    assert resumed.pruned == {t for t in straight.pruned if int(t) < 5}
    # the killed trial runs again with its values, then the rest
    for curve in curves[5:]:
        run(resumed, curve)
    assert resumed.trials[killed.trial_id].hyperparameters.values == killed.hyperparameters.values
    assert len(optuna_study(resumed).trials) == 8
    assert resumed.pruned == straight.pruned
    assert [t.state for t in optuna_study(resumed).trials] == [
        t.state
        for t in optuna_study(straight).trials[:8]  # its 9th is running
    ]
    assert resumed.create_trial("tuner0").hyperparameters.values == straight_next
