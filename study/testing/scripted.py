"""A study written by a script instead of by training: records for the report's tests and bench.

Trials get hyperparameters drawn from the default space and an objective that is
a known function of them (mostly of the learning rate, then of the optimizer), with
a two-phase learning curve ending at that objective. Records are written with the
same writers the tuner uses (study.records), so the report reads what a study writes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from study.config import StudyConfig
from study.status import TrialStatus
from study.store.atomic import write_json_atomic
from study.store.records import TrialRecords, TrialReport
from study.store.study_file import study_record
from study.training import cost
from study.training.history import EpochRecord

OPTIMIZER_COST = {"adam": 0.0, "nadam": 0.01, "rmsprop": 0.03}


def scripted_objective(values: dict) -> float:
    """0.2 at learning rate 3e-3 with adam, rising by 0.2 a decade away from it."""
    return (
        0.2
        + 0.2 * abs(math.log10(values["learning_rate"] / 3e-3))
        + OPTIMIZER_COST[values["optimizer"]]
    )


def draw_values(space: dict, rng: np.random.Generator) -> dict:
    values = {}
    for name, p in space.items():
        if p.kind == "choice":
            values[name] = p.values[rng.integers(len(p.values))]
        elif p.kind == "fixed":
            values[name] = p.default
        elif p.log:
            x = math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
            values[name] = int(round(x)) if p.kind == "int" else x
        else:
            x = rng.uniform(p.low, p.high)
            values[name] = int(round(x)) if p.kind == "int" else x
    return values


def curve(objective: float, epochs_1: int, epochs_2: int, lr: float, factor: float) -> list:
    """val_bce falling towards `objective`, reached at the last epoch of phase 2."""
    records = []
    for epoch in range(epochs_1 + epochs_2):
        phase = 1 if epoch < epochs_1 else 2
        val = objective + 0.3 * math.exp(-epoch / 2) + (0.01 if phase == 1 else 0.0)
        val -= 0.3 * math.exp(-(epochs_1 + epochs_2 - 1) / 2)
        rate = lr if phase == 1 else lr * factor
        records.append(EpochRecord(epoch, phase, rate, val + 0.02, val, 0.5))
    return records


def write_study(
    results: Path, name: str, statuses: list[str], seed: int = 0, fixed: dict | None = None
) -> Path:
    """Write results/<name>/ with one trial per entry of `statuses`; return the study dir."""
    config = StudyConfig(study=name, results=str(results), trials=len(statuses), fixed=fixed or {})
    space = config.search_space()
    study_dir = config.study_dir
    write_json_atomic(study_dir / "study.json", study_record(config, "scripted"))
    records = TrialRecords(study_dir)
    rng = np.random.default_rng(seed)
    for index, status in enumerate(statuses):
        trial_id = str(index)
        values = draw_values(space, rng)
        objective = scripted_objective(values)
        epochs_1, epochs_2 = 4 + index % 3, 3
        history = curve(
            objective, epochs_1, epochs_2, values["learning_rate"], values["fine_tune_factor"]
        )
        if status == TrialStatus.PRUNED:  # stopped in phase 1; keeps the best value it reached
            history = history[:3]
            objective = min(r.val_bce for r in history)
        elif status != TrialStatus.COMPLETED:
            history = history[: 2 if status != TrialStatus.FAILED else 1]
        done = status in (TrialStatus.COMPLETED, TrialStatus.PRUNED)
        if status == TrialStatus.PRUNED:
            epochs_1, epochs_2 = 3, 0
        report = TrialReport(
            trial_id=trial_id,
            status=status,
            objective=objective if done else None,
            hyperparameters=values,
            epochs_1=epochs_1 if done else None,
            epochs_2=epochs_2 if done else None,
            switch_epoch=epochs_1 if status == TrialStatus.COMPLETED else None,
            best_epoch=epochs_1 + epochs_2 - 1 if done else None,
            parameters=1000 + index,
            flops_per_particle=cost.flops_per_particle(12, values["width"], values["n_blocks"]),
            seconds=10.0 + index,
            rows_per_second=5000.0 if done else None,
            epochs=len(history),
            message=f"loss is nan at epoch 0 (trial {trial_id})"
            if status == TrialStatus.FAILED
            else None,
        )
        records.write_report(report)
        records.write_history(trial_id, history)
    records.write_table()
    return study_dir
