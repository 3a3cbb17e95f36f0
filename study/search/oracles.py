"""The study's oracles, one class per tuner and role, declared here with their bases:
keras-tuner's random, Bayesian or Hyperband search, or Optuna's samplers
(study/search/optuna_oracle.py), each recoverable (recovery.py), seeded, with the
consecutive-failure limit; a chief's (chief.py) for a distributed study.

    RandomOracle(CostBoundOracle, RecoveringOracle, ObjectiveCheck, RandomSearchOracle)
    BayesianOracle(CostBoundOracle, RecoveringOracle, ObjectiveCheck, BayesianOptimizationOracle)
    HyperbandOracle(CostBoundOracle, RecoveringOracle, ObjectiveCheck, HyperbandOracle)
    OptunaOracle(RecoveringOracle, ObjectiveCheck, Oracle)  (in optuna_oracle.py)
    ChiefRandomOracle(ChiefMixin, RandomOracle)
    ChiefBayesianOracle(ChiefMixin, BayesianOracle)
    ChiefHyperbandOracle(ChiefMixin, HyperbandOracle)
    ChiefOptunaOracle(ChiefMixin, OptunaOracle)
(the last base of each keras-tuner's; ObjectiveCheck is kt_compat's)

The overrides, outermost first (a class that is not a chief's starts at its second step):
- create_trial: ChiefMixin (a silent trial handed over to the asking worker; the
  --parallel budget's stop; a worker told to wait while the last trials run; the event
  log) -> RecoveringOracle (a trial run again after a kill starts clean: its old epochs
  forgotten, Optuna's live trial failed) -> keras-tuner's (the retry queue, else
  `populate_space`: CostBoundOracle draws again above the bound, then keras-tuner's
  draw; OptunaOracle asks Optuna);
- update_trial: ChiefMixin (a late report of a trial handed away ignored; the trial
  heard from) -> OptunaOracle (the pruner) -> keras-tuner's, whose check that the
  objective was reported asks ObjectiveCheck, whose hook is RecoveringOracle's;
- end_trial: ChiefMixin (a second end of a handed-over trial ignored; the state saved
  after; the end logged) -> OptunaOracle (Optuna told the outcome) -> RecoveringOracle
  (the state saved before keras-tuner's consecutive-failure stop is raised) ->
  keras-tuner's.
Each override holds the oracle's lock (kt_compat.synchronized, released when it raises);
keras-tuner's own methods below it see the lock held by their thread and run on.

Everything an oracle needs is given to its constructor (`make_oracle`): nothing is set
on it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import keras_tuner

from study import seeds
from study.config import StudyConfig, startup_trials
from study.search import chief, distributed, kt_compat
from study.search.chief import ChiefMixin
from study.search.cost_bound import CostBoundOracle
from study.search.kt_compat import ObjectiveCheck
from study.search.optuna_oracle import SAMPLERS, OptunaOracle
from study.search.recovery import RecoveringOracle
from study.training.schedule import MONITOR

OBJECTIVE = keras_tuner.Objective(MONITOR, direction="min")
kt_oracles = keras_tuner.oracles


class RandomOracle(
    CostBoundOracle, RecoveringOracle, ObjectiveCheck, kt_oracles.RandomSearchOracle
):
    """keras-tuner's random search."""


class BayesianOracle(
    CostBoundOracle, RecoveringOracle, ObjectiveCheck, kt_oracles.BayesianOptimizationOracle
):
    """keras-tuner's Gaussian-process search, after `num_initial_points` random trials."""


class HyperbandOracle(
    CostBoundOracle, RecoveringOracle, ObjectiveCheck, kt_oracles.HyperbandOracle
):
    """keras-tuner's Hyperband: each trial's values carry its rung (`tuner/epochs`, the
    global epochs to reach; `tuner/trial_id`, the trial whose checkpoint it continues).

    keras-tuner's Hyperband takes no `max_trials`; the study's trial count bounds it here."""

    def __init__(self, max_trials=None, **kwargs):
        super().__init__(**kwargs)
        self.max_trials = max_trials


class ChiefRandomOracle(ChiefMixin, RandomOracle):
    """The chief of a distributed random search."""


class ChiefBayesianOracle(ChiefMixin, BayesianOracle):
    """The chief of a distributed Bayesian search."""


class ChiefHyperbandOracle(ChiefMixin, HyperbandOracle):
    """The chief of a distributed Hyperband search."""


class ChiefOptunaOracle(ChiefMixin, OptunaOracle):
    """The chief of a distributed search with an Optuna sampler."""


# config.tuner -> (its oracle class, its chief's): the Optuna samplers share one class
ORACLES: dict[str, tuple[type, type]] = {
    "random": (RandomOracle, ChiefRandomOracle),
    "bayesian": (BayesianOracle, ChiefBayesianOracle),
    "hyperband": (HyperbandOracle, ChiefHyperbandOracle),
    **dict.fromkeys(SAMPLERS, (OptunaOracle, ChiefOptunaOracle)),
}


def make_oracle(
    config: StudyConfig,
    role: distributed.Role | None = None,
    *,
    n_inputs: int | None = None,
    budget_stop: Callable[[], str | None] | None = None,
):
    """The oracle named by `config.tuner`, complete: seeded, with the failure limit, the
    cost bound or the cost objective over the network's `n_inputs` inputs; a chief's for
    `role.kind == "chief"`, with its hand-over time, its event log and, for --parallel's
    chief (`role.local`), `budget_stop` (chief.ChiefMixin)."""
    kt_compat.check()  # the keras-tuner installed has what resume and the chief use
    single, chief_class = ORACLES[config.tuner]
    arguments = _oracle_arguments(config, n_inputs)
    if role is None or role.kind != "chief":
        return single(**arguments)
    return chief_class(
        handover_s=role.handover_s,
        events=config.study_dir / chief.EVENTS,
        budget_stop=budget_stop if role.local else None,
        **arguments,
    )


def _oracle_arguments(config: StudyConfig, n_inputs: int | None) -> dict:
    common = dict(
        objective=OBJECTIVE,
        max_trials=config.trials,
        seed=seeds.oracle_seed(config.seed),
        max_consecutive_failed_trials=config.max_failures,
    )
    if config.tuner in SAMPLERS:
        return dict(
            sampler=config.tuner,
            pruner=config.prune,
            max_epochs=config.max_epochs,
            objectives=config.objectives,
            cost_inputs=n_inputs,
            **common,
        )
    common["cost_bound"] = _cost_bound(config, n_inputs)
    if config.tuner == "hyperband":
        # budget: global epochs across both phases; rungs of 1/3 of the trials each
        return dict(
            max_epochs=2 * config.max_epochs, factor=3, hyperband_iterations=10_000, **common
        )
    if config.tuner == "bayesian":
        # keras-tuner's default starts with 3 random trials per hyperparameter (24 here)
        return dict(num_initial_points=startup_trials(config.trials), **common)
    return common


def _cost_bound(config: StudyConfig, n_inputs: int | None) -> tuple[int, float] | None:
    """(inputs, ns a particle) of --max-ns-per-particle, or None without a bound."""
    if not config.max_ns_per_particle:
        return None
    if n_inputs is None:
        raise ValueError("a cost bound needs the network's inputs (n_inputs)")
    return n_inputs, float(config.max_ns_per_particle)
