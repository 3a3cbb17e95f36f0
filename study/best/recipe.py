"""The final fit's recipe and start: what the retrain trains, at what rates, from where.

A trial searches on a 100,000-row subsample for a few epochs, so its optimizer, rates
and batch size are what suits that, not a fit on the whole training split. With
`retrain_recipe` "full-data" (the default) the final fit keeps the trial's network
(blocks, width, activation, L2) and trains it with FULL_DATA, a recipe measured on the
full split of the default sample (bench/README.md, "bench_recipe.py"); "trial" keeps
the trial's own values. With `retrain_from` "trial" it starts from the weights the
trial ended with (`trials/<id>/checkpoint/`, which every trial process writes at its
last epoch); with "scratch" (the default) from a fresh seeded initialisation.
Measured on the full split of the default sample (10 x 100 gelu, the recipe below):
from the trial's weights 0.00526 nats in 461 s, from scratch 0.00460 in 829 s; both fit
in the time a 30-minute budget leaves the final fit, so the default is the better one.
"""

from __future__ import annotations

import logging
from pathlib import Path

from study.config import StudyConfig
from study.store.records import TrialReport

log = logging.getLogger(__name__)
NETWORK = ("n_blocks", "width", "activation", "l2")  # what the final fit takes from a trial
# Measured on the full split of the default sample (bench/README.md): Adam 2e-3, then
# 3e-4, batch 2048 (an epoch of 1.25 M rows costs less per row, and is less noisy, than at
# a trial's 512).
FULL_DATA = {"optimizer": "adam", "learning_rate": 2e-3, "fine_tune_factor": 0.15,
             "batch_size": 2048}  # fmt: skip
# and a moving average of the weights (momentum 0.99, copied into the model every epoch):
# continuing a trial's weights, 0.00526 nats against 0.00628 without (bench/README.md)
FULL_DATA_SCHEDULE = {"decay_2": 1.0, "ema_momentum": 0.99}


def final_values(config: StudyConfig, trial: TrialReport) -> dict:
    """The hyperparameter values the final fit trains: the trial's network with the recipe."""
    values = dict(trial.hyperparameters)
    if config.retrain_recipe == "full-data":
        values.update(FULL_DATA)
    return values


def final_schedule(config: StudyConfig) -> dict:
    """TwoPhaseSchedule settings of the final fit beyond patience and caps."""
    settings = {"label_smoothing_1": config.label_smoothing}
    if config.retrain_recipe == "full-data":
        settings.update(FULL_DATA_SCHEDULE)
    return settings


def trial_weights(trial_dir: Path) -> list | None:
    """The weights trial `trial_dir` ended with (its last phase's best, as restored at its
    end), or None where it kept none (a trial cut by a deadline, or of an older study)."""
    from study.store.checkpoint import RUNG_KEY, Checkpoint

    restored = Checkpoint(Path(trial_dir) / "checkpoint").load(key=RUNG_KEY)
    if restored is None:
        return None
    model, _schedule, _history, best = restored
    return best if best is not None else model.get_weights()


def continue_from_trial(config: StudyConfig, model, trial: TrialReport) -> bool:
    """Set `model`'s weights to the trial's (True), or say why it starts from scratch."""
    if config.retrain_from != "trial":
        return False
    from study.store.records import TrialRecords

    # trial_dir refuses an id that could leave trials/ (a report.json is a results file)
    weights = trial_weights(TrialRecords(config.study_dir).trial_dir(trial.trial_id))
    shapes = [w.shape for w in model.get_weights()]
    if weights is None or [w.shape for w in weights] != shapes:
        why = "kept no weights" if weights is None else "kept weights of another shape"
        log.info("retrain: trial %s %s; training from scratch", trial.trial_id, why)
        return False
    model.set_weights(weights)
    return True


def describe(config: StudyConfig, trial: TrialReport) -> str:
    """The final fit's start and recipe in words, for the terminal."""
    values, settings = final_values(config, trial), final_schedule(config)
    rate = float(values["learning_rate"])
    words = [
        "from the trial's weights" if config.retrain_from == "trial" else "from scratch",
        f"{values['optimizer']} {rate:.2g} then {rate * float(values['fine_tune_factor']):.2g}",
        f"batch {values['batch_size']}",
    ]
    if settings.get("ema_momentum"):
        words.append(f"weights averaged (momentum {settings['ema_momentum']:g})")
    if settings.get("decay_2", 1.0) != 1.0:
        words.append(f"phase-2 rate x {settings['decay_2']:g} an epoch")
    return ", ".join(words)
