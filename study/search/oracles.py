"""The study's oracle: keras-tuner's random, Bayesian or Hyperband search, or Optuna's
samplers (study/search/optuna_oracle.py), each made recoverable (recovery.py), seeded,
with the consecutive-failure limit; a chief's for a distributed study."""

from __future__ import annotations

import keras_tuner

from study import seeds
from study.config import StudyConfig, startup_trials
from study.search import chief, distributed, kt_compat, recovery
from study.search.cost_bound import CostBoundOracle
from study.training.schedule import MONITOR

OBJECTIVE = keras_tuner.Objective(MONITOR, direction="min")


def make_oracle(config: StudyConfig, role: distributed.Role | None = None):
    """The oracle named by `config.tuner`, seeded, with the failure limit; a chief's
    (hand-over of a lost worker's trial, study/search/chief.py) for `role.kind == "chief"`."""
    kt_compat.check()  # the keras-tuner installed has what resume and the chief use
    cls = _oracle_class(config)
    if config.max_ns_per_particle:  # keras-tuner's oracles only (StudyConfig.check)
        cls = type(f"CostBound{cls.__name__}", (CostBoundOracle, cls), {})
    if role is None or role.kind != "chief":
        return cls(**_oracle_arguments(config))
    oracle = chief.chief_class(cls)(**_oracle_arguments(config))
    oracle.start_chief(role.handover_s, config.study_dir / chief.EVENTS)
    return oracle


def _oracle_class(config: StudyConfig) -> type:
    if config.tuner == "random":
        return recovery.RandomOracle
    if config.tuner == "bayesian":
        return recovery.BayesianOracle
    if config.tuner == "hyperband":
        return recovery.HyperbandOracle
    from study.search.optuna_oracle import OptunaOracle

    return OptunaOracle


def _oracle_arguments(config: StudyConfig) -> dict:
    common = dict(
        objective=OBJECTIVE,
        max_trials=config.trials,
        seed=seeds.oracle_seed(config.seed),
        max_consecutive_failed_trials=config.max_failures,
    )
    if config.tuner == "random":
        return common
    if config.tuner == "hyperband":
        # budget: global epochs across both phases; rungs of 1/3 of the trials each
        return dict(
            max_epochs=2 * config.max_epochs, factor=3, hyperband_iterations=10_000, **common
        )
    if config.tuner == "bayesian":
        # keras-tuner's default starts with 3 random trials per hyperparameter (24 here)
        return dict(num_initial_points=startup_trials(config.trials), **common)
    return dict(
        sampler=config.tuner,
        pruner=config.prune,
        max_epochs=config.max_epochs,
        objectives=config.objectives,
        **common,
    )
