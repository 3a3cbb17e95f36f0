"""Optuna inside keras-tuner: an Oracle that samples with Optuna and prunes across both phases.

keras-tuner keeps the study's lifecycle (trial ids, state files, resume, the
distributed chief/worker mode); an in-memory Optuna study decides the values of
each new trial (`populate_space` -> `study.ask`) and whether a running trial is
pruned (`update_trial` -> `trial.report` + `should_prune`); `end_trial` tells it
the outcome (COMPLETE, FAIL or PRUNED). With `objectives="val_bce,cost"` the Optuna
study has two directions (validation cross-entropy, estimated compiled-C ns a
particle) and its sampler (multi-objective TPE, or GP) searches the Pareto front;
keras-tuner's own objective, and so its best trial, stays the cross-entropy.

The per-epoch validation cross-entropy arrives under EPOCH_METRIC, not under the
objective's name, so that the objective stays the value `run_trial` returns.
Steps are global epochs: phase 2 continues phase 1's count, so a pruner compares
trials at the same amount of training whatever their switch epoch.

Nothing Optuna-specific is stored: on reload the Optuna study is rebuilt from
keras-tuner's trials (parameters, objective, per-epoch values, pruned or not; the
ids of pruned trials live in keras-tuner's own oracle.json). Each `ask` reseeds
the sampler from the study seed and the number of trials it knows, so a resumed
study samples what an uninterrupted one would have sampled from the same trials.
"""

from __future__ import annotations

import logging
import math

import keras_tuner
import optuna

from study import seeds
from study.config import startup_trials
from study.errors import StateError
from study.search import kt_compat, recovery
from study.status import TrialStatus
from study.training import cost
from study.training.schedule import EPOCH_METRIC

log = logging.getLogger(__name__)
hp_module = kt_compat.hyperparameter_classes()  # Int, Float, Choice, Boolean, Fixed

SAMPLERS = ("tpe", "cmaes", "gp")


def distributions(hp: keras_tuner.HyperParameters) -> tuple[dict, dict]:
    """Optuna distributions of keras-tuner hyperparameters, and the values that are fixed.

    Int and Float (linear with or without step, or log), Choice, Boolean; Fixed
    values and one-value choices are not searched. Reverse-log sampling and a step
    on a log scale have no Optuna equivalent and raise ValueError.
    """
    od = optuna.distributions
    searched, fixed = {}, {}
    for p in hp.space:
        if isinstance(p, hp_module.Fixed):
            fixed[p.name] = p.value
        elif isinstance(p, hp_module.Boolean):
            searched[p.name] = od.CategoricalDistribution([False, True])
        elif isinstance(p, hp_module.Choice):
            if len(p.values) == 1:
                fixed[p.name] = p.values[0]
            else:
                searched[p.name] = od.CategoricalDistribution(list(p.values))
        elif isinstance(p, (hp_module.Int, hp_module.Float)):
            searched[p.name] = _numeric(p)
        else:
            raise ValueError(f"hyperparameter {p.name}: {type(p).__name__} has no Optuna form")
    return searched, fixed


def _numeric(p):
    od = optuna.distributions
    is_int = isinstance(p, hp_module.Int)
    if p.sampling == "reverse_log":
        raise ValueError(f"hyperparameter {p.name}: reverse_log sampling has no Optuna form")
    if p.sampling == "log":
        if p.step not in (None, 1) and not (is_int and p.step == 1):
            raise ValueError(f"hyperparameter {p.name}: a step on a log scale has no Optuna form")
        if is_int:
            return od.IntDistribution(int(p.min_value), int(p.max_value), log=True)
        return od.FloatDistribution(float(p.min_value), float(p.max_value), log=True)
    if is_int:
        return od.IntDistribution(int(p.min_value), int(p.max_value), step=int(p.step or 1))
    return od.FloatDistribution(float(p.min_value), float(p.max_value), step=p.step)


def make_sampler(kind: str, seed: int, trials: int):
    """A seeded Optuna sampler: multivariate TPE, CMA-ES or GP."""
    samplers = optuna.samplers
    if kind == "tpe":
        startup = startup_trials(trials)  # random trials first: 10 of 50, 4 of 20
        return samplers.TPESampler(
            multivariate=True, seed=seed, n_startup_trials=startup, constant_liar=True
        )
    if kind == "cmaes":
        # CMA-ES samples the numeric hyperparameters; choices are drawn independently.
        return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if kind == "gp":
        return samplers.GPSampler(seed=seed)
    raise ValueError(f"unknown sampler {kind!r}")


def make_pruner(kind: str, max_epochs: int, trials: int):
    """Median: prune below the median of completed trials at the same global epoch, after
    `startup` completed trials and 2 epochs of the trial; Hyperband over 1..2*max_epochs."""
    pruners = optuna.pruners
    if kind == "none":
        return pruners.NopPruner()
    if kind == "median":
        return pruners.MedianPruner(n_startup_trials=min(5, max(2, trials // 10)), n_warmup_steps=2)
    if kind == "hyperband":
        return pruners.HyperbandPruner(min_resource=2, max_resource=2 * max_epochs)
    raise ValueError(f"unknown pruner {kind!r}")


class OptunaOracle(recovery.RecoveringOracle, kt_compat.ObjectiveCheck, keras_tuner.Oracle):
    """A keras-tuner Oracle sampling with Optuna (`sampler` in SAMPLERS) and pruning
    (`pruner` in PRUNERS); `cost_inputs`, the network's inputs, for the `cost` objective.
    Its place among the study's oracles, and the order of the overrides: oracles.py."""

    def __init__(
        self,
        sampler: str = "tpe",
        pruner: str = "none",
        max_epochs: int = 10,
        objectives: str = "val_bce",
        cost_inputs: int | None = None,
        **kw,
    ):
        super().__init__(**kw)
        self.sampler_kind, self.pruner_kind, self.max_epochs = sampler, pruner, max_epochs
        self.objectives = objectives.split(",")
        self.cost_inputs = cost_inputs
        self.pruned: set[str] = set()
        self._live: dict[str, optuna.trial.Trial] = {}
        self._study = self._new_study()

    # -- the Optuna study --------------------------------------------------------------
    def _new_study(self) -> optuna.Study:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        trials = self.max_trials or 50
        return optuna.create_study(
            directions=["minimize"] * len(self.objectives),
            sampler=make_sampler(self.sampler_kind, self.seed, trials),
            pruner=make_pruner(self.pruner_kind, self.max_epochs, trials),
        )

    def _reseed(self) -> None:
        seed = seeds.sampler_seed(self.seed, len(self._study.trials))
        self._study.sampler = make_sampler(self.sampler_kind, seed, self.max_trials or 50)

    def _rebuild_study(self) -> None:
        """The Optuna study of the ended trials, in the order they ended."""
        self._study, self._live = self._new_study(), {}
        for trial_id in self.end_order:
            frozen = self._frozen(self.trials[trial_id])
            if frozen is not None:
                self._study.add_trial(frozen)

    def _frozen(self, trial):
        searched, _ = distributions(self.hyperparameters)
        values = trial.hyperparameters.values
        params = {n: values[n] for n in searched if n in values}
        dists = {n: searched[n] for n in params}
        steps = {}
        if trial.metrics.exists(EPOCH_METRIC):
            for obs in trial.metrics.get_history(EPOCH_METRIC):
                value = obs.value[0] if isinstance(obs.value, list) else obs.value
                steps[int(obs.step)] = float(value)
        done = optuna.trial.TrialState
        if trial.trial_id in self.pruned:
            kind, value = done.PRUNED, None
        elif (
            trial.status == TrialStatus.COMPLETED
            and trial.score is not None
            and math.isfinite(trial.score)
        ):
            kind, value = done.COMPLETE, self._values(trial)
        else:
            kind, value = done.FAIL, None
        try:
            return optuna.trial.create_trial(
                state=kind,
                values=value,
                params=params,
                distributions=dists,
                intermediate_values=steps,
            )
        except ValueError as err:  # values outside a narrowed space: keep the rest
            log.warning("trial %s not given to Optuna: %s", trial.trial_id, err)
            return None

    def _optuna_trial(self, trial_id: str) -> optuna.trial.Trial:
        """The live Optuna trial of a keras-tuner trial; a re-run trial gets a new one."""
        if trial_id not in self._live:
            searched, _ = distributions(self.hyperparameters)
            values = self.trials[trial_id].hyperparameters.values
            self._study.enqueue_trial({n: values[n] for n in searched if n in values})
            self._live[trial_id] = self._study.ask(searched)
        return self._live[trial_id]

    # -- keras-tuner's Oracle interface ------------------------------------------------
    def populate_space(self, trial_id):
        searched, fixed = distributions(self.hyperparameters)
        self._reseed()
        ask = self._study.ask(searched)
        self._live[trial_id] = ask
        space = self.hyperparameters.space
        values = {p.name: ask.params.get(p.name, fixed.get(p.name)) for p in space}
        return {"status": TrialStatus.RUNNING, "values": values}

    @kt_compat.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        trial = super().update_trial(trial_id, metrics, step)
        if EPOCH_METRIC in metrics and self.pruner_kind != "none":
            live = self._optuna_trial(trial_id)
            live.report(float(metrics[EPOCH_METRIC]), int(step))
            if live.should_prune():
                log.info("trial %s pruned at global epoch %d", trial_id, step)
                self.pruned.add(trial_id)
                trial.status = TrialStatus.STOPPED
        return trial

    @kt_compat.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        if trial.trial_id in self.end_order:
            self._tell(self.trials[trial.trial_id])

    def forget_run(self, trial_id: str) -> None:
        """The run handed over from a lost worker fails in Optuna; the re-run asks anew."""
        live = self._live.pop(trial_id, None)
        if live is not None:
            self._study.tell(live, state=optuna.trial.TrialState.FAIL)
        self.pruned.discard(trial_id)

    def _tell(self, trial) -> None:
        live = self._live.pop(trial.trial_id, None)
        if live is None:
            frozen = self._frozen(trial)
            if frozen is not None:
                self._study.add_trial(frozen)
            return
        done = optuna.trial.TrialState
        if trial.trial_id in self.pruned:
            self._study.tell(live, state=done.PRUNED)
        elif (
            trial.status == TrialStatus.COMPLETED
            and trial.score is not None
            and math.isfinite(trial.score)
        ):
            self._study.tell(live, self._values(trial))
        else:
            self._study.tell(live, state=done.FAIL)

    def _values(self, trial) -> list[float]:
        """The objectives of a completed trial: its score, and with `cost` its estimated
        compiled-C ns a particle (study/training/cost.py)."""
        values = [float(trial.score)]
        if "cost" in self.objectives:
            if self.cost_inputs is None:
                raise StateError("the cost objective needs the network's inputs (cost_inputs)")
            values.append(cost.configuration_ns(trial.hyperparameters.values, self.cost_inputs))
        return values

    def get_state(self):
        out = super().get_state()
        out["pruned"] = sorted(self.pruned)
        return out

    def set_state(self, saved):
        super().set_state(saved)
        self.pruned = set(saved.get("pruned", []))
        self._rebuild_study()

    def _rebuild_from_trials(self) -> None:
        super()._rebuild_from_trials()
        self._rebuild_study()
