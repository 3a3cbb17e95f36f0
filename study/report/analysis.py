"""Numbers behind the report: best-so-far curve, hyperparameter importances, comparisons.

Pure functions of StudyRecord/TrialSummary objects; nothing here reads or writes files.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from study.names import shown
from study.report.collect import StudyRecord, TrialSummary, finite
from study.report.series import CostFront, Importances, ObjectiveSeries
from study.space import optuna_distributions, searched
from study.status import TrialStatus
from study.training import cost

log = logging.getLogger(__name__)


def objective_series(study: StudyRecord) -> ObjectiveSeries:
    """Objective of every trial in id order and the best objective so far after each.

    Pruned trials have their best value reached under `pruned` (not in the best so far).
    """
    ids, objective, pruned, best = [], [], [], []
    current = math.inf
    for t in study.trials:
        value = t.objective if t.status == TrialStatus.COMPLETED and finite(t.objective) else None
        if value is not None:
            current = min(current, value)
        ids.append(t.trial_id)
        objective.append(value)
        pruned.append(t.objective if t.status == TrialStatus.PRUNED else None)
        best.append(current if math.isfinite(current) else None)
    return ObjectiveSeries(ids, objective, pruned, best)


MIN_IMPORTANCE_TRIALS = 10


def importance_trials(searched_count: int) -> int:
    """Completed trials from which fANOVA importances are drawn: 2 a searched
    hyperparameter, at least MIN_IMPORTANCE_TRIALS (16 for the default space's 8)."""
    return max(MIN_IMPORTANCE_TRIALS, 2 * searched_count)


def importances(study: StudyRecord, seed: int = 0) -> Importances:
    """Hyperparameter importances (Optuna's fANOVA) over the completed trials.

    The importances of the searched hyperparameters sum to 1. With fewer completed trials than
    `importance_trials`, or objectives that do not vary, the values are empty and the
    note says why.
    """
    import optuna

    distributions = optuna_distributions(study.space)
    done = _in_space(study.completed(), distributions)
    if not distributions:
        return Importances({}, "no hyperparameter is searched")
    needed = importance_trials(len(distributions))
    if len(done) < needed:
        return Importances(
            {},
            f"importances need at least {needed} completed trials (2 per searched "
            f"hyperparameter, at least {MIN_IMPORTANCE_TRIALS}); this study has {len(done)}: "
            "a forest fitted to fewer says nothing",
        )
    if len({t.value for t in done}) < 2:
        return Importances({}, "every completed trial has the same objective")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ostudy = optuna.create_study(direction="minimize")
    for trial in done:
        ostudy.add_trial(trial)
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    values = optuna.importance.get_param_importances(ostudy, evaluator=evaluator, normalize=True)
    values = {name: float(v) for name, v in values.items()}
    for name in distributions:  # a hyperparameter that explains nothing still gets a row
        values.setdefault(name, 0.0)
    return Importances(
        dict(sorted(values.items(), key=lambda kv: -kv[1])),
        f"fANOVA (Optuna) over {len(done)} completed trials",
    )


def _in_space(trials: list[TrialSummary], distributions: dict) -> list:
    """Optuna trials of `trials` (completed, finite objective); one whose value of a
    searched hyperparameter lies outside the space (or is missing) is left out with a
    warning naming it."""
    import optuna

    out = []
    for t in trials:
        try:
            params = {name: t.hyperparameters[name] for name in distributions}
            out.append(optuna.trial.create_trial(
                params=params, distributions=distributions, value=t.objective
            ))  # fmt: skip
        except (KeyError, ValueError, TypeError):
            log.warning("trial %s: a hyperparameter is missing or outside the search space; "
                        "left out of the importances", shown(t.trial_id))  # fmt: skip
    return out


def top_trials(study: StudyRecord, k: int) -> list[TrialSummary]:
    """The k best completed trials that have a history, best first."""
    return [
        t
        for t in study.sorted_trials()
        if t.status == TrialStatus.COMPLETED and t.history is not None
    ][:k]


# -- comparison -----------------------------------------------------------------------------


@dataclass
class Entry:
    """One column of a comparison: a trial of a study, with the study's retrained metrics."""

    label: str
    study: StudyRecord
    trial: TrialSummary

    @property
    def test_metrics(self) -> dict:
        card = self.study.retrained
        if card and card.test_metrics and card.trial_id == self.trial.trial_id:
            return card.test_metrics.to_dict()
        return {}


SUMMARY_ROWS = ("status", "objective", "epochs_1", "epochs_2", "switch_epoch", "seconds")
TEST_ROWS = ("test_cross_entropy", "bayes_cross_entropy", "excess")


def comparison(entries: list[Entry]) -> dict:
    """Side-by-side table: rows of hyperparameters, summary figures and test metrics.

    `differing` names exactly the hyperparameters whose values are not all equal
    (a hyperparameter one entry lacks counts as differing).
    """
    hp_names = []
    for e in entries:
        hp_names += [n for n in e.trial.hyperparameters if n not in hp_names]
    rows = {}
    for name in hp_names:
        rows[name] = [e.trial.hyperparameters.get(name) for e in entries]
    differing = [name for name in hp_names if _differ(rows[name])]
    for name in SUMMARY_ROWS:
        rows[name] = [getattr(e.trial, name) for e in entries]
    for name in TEST_ROWS:
        values = [e.test_metrics.get(name) for e in entries]
        if any(v is not None for v in values):
            rows[name] = values
    return {
        "columns": [e.label for e in entries],
        "hyperparameters": hp_names,
        "differing": differing,
        "rows": rows,
    }


def _differ(values: list) -> bool:
    first = values[0]
    for v in values[1:]:
        if isinstance(first, float) and isinstance(v, float):
            if not np.isclose(first, v, rtol=1e-12, atol=0.0):
                return True
        elif v != first:
            return True
    return False


def searched_names(study: StudyRecord) -> list[str]:
    return list(searched(study.space))


def cost_front(study: StudyRecord) -> CostFront:
    """Completed trials as (id, estimated C ns a particle, objective), and the ids of
    their Pareto front (training/cost.py)."""
    points = [
        (t.trial_id, cost.estimated_c_ns(t.flops), t.objective)
        for t in study.completed()
        if t.flops is not None
    ]
    return CostFront(points, cost.pareto_front(points))
