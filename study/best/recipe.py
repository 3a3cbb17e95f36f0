"""The final fit's recipe and start: what the retrain trains, at what rates, from where.

A trial searches on a subsample (`search_rows`) for a few epochs, so its optimizer,
rates and batch size are what suits that much data. The final fit keeps the trial's
network (blocks, width, activation), divides its L2 by the growth of the rows (`l2_share`:
a penalty on the mean loss weighs more against a larger split), and trains it on the whole
training split with
`retrain_recipe`: "auto" (the default) takes the trial's own values where the split is
less than FULL_DATA_MIN_GROWTH times the rows the trial trained on, and FULL_DATA (with a
weight average whose horizon is a share of an epoch's steps) from there on; "full-data"
and "trial" force one of the two. With `retrain_from` "trial" it starts from the weights
the trial ended with (`trials/<id>/checkpoint/`, which every trial process writes at its
last epoch); with "scratch" (the default) from a fresh seeded initialisation, which ended
better on the default sample (bench/README.md, "bench_recipe.py").
"""

from __future__ import annotations

import logging
from pathlib import Path

from study.choice import FULL_DATA_BATCH, recipe_of, searched_rows
from study.config import StudyConfig
from study.store.records import TrialReport

log = logging.getLogger(__name__)
NETWORK = ("n_blocks", "width", "activation", "l2")  # from a trial (the L2 x l2_share)
# The full-data recipe: Adam 2e-3, then x 0.15, batch 2048 (on a split many times the
# search's subsample an epoch at 2048 costs less per row, and is less noisy, than at a
# trial's 512), and a moving average of the weights (bench/README.md, "bench_recipe.py").
FULL_DATA = {"optimizer": "adam", "learning_rate": 2e-3, "fine_tune_factor": 0.15,
             "batch_size": FULL_DATA_BATCH}  # fmt: skip
# The weight average's horizon 1 / (1 - momentum) in optimizer steps: EMA_EPOCH_SHARE of an
# epoch's steps (the average is copied into the model once an epoch, so a longer horizon
# drags the weights back towards where they were epochs ago); none under EMA_MIN_STEPS.
# A sixth keeps the momentum measured where epochs are long (0.99 at ~600 steps); at ~120
# steps (0.951) the full-data fits of bench_zoo's 250,210-row profiles beat the trial's
# recipe; the share itself has not been varied (bench/README.md).
EMA_EPOCH_SHARE, EMA_MIN_STEPS = 1 / 6, 10


def final_values(config: StudyConfig, trial: TrialReport, train_rows: int) -> dict:
    """The hyperparameter values the final fit trains: the trial's network with the recipe."""
    values = dict(trial.hyperparameters)
    if recipe_of(config, trial, train_rows) == "full-data":
        values.update(FULL_DATA)
    values["l2"] = float(values["l2"]) * l2_share(trial, train_rows)
    return values


def l2_share(trial: TrialReport, train_rows: int) -> float:
    """The trial's L2 is a prior searched against the mean loss of its rows; against the
    mean loss of a split N times larger the same prior weighs N times more, so the final
    fit divides it by N (never multiplies it)."""
    return min(1.0, searched_rows(trial, train_rows) / max(train_rows, 1))


def ema_momentum(train_rows: int, batch_size: int) -> float:
    """The weight average's momentum for an epoch of ceil(rows / batch) steps (0: none)."""
    horizon = EMA_EPOCH_SHARE * -(-train_rows // max(int(batch_size), 1))
    return 0.0 if horizon < EMA_MIN_STEPS else 1.0 - 1.0 / horizon


def final_schedule(config: StudyConfig, trial: TrialReport, train_rows: int) -> dict:
    """TwoPhaseSchedule settings of the final fit beyond patience and caps: the weight
    average with the full-data recipe."""
    settings = {"label_smoothing_1": config.label_smoothing}
    if recipe_of(config, trial, train_rows) == "full-data":
        batch = FULL_DATA["batch_size"]
        settings.update(decay_2=1.0, ema_momentum=ema_momentum(train_rows, batch))
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


def describe(config: StudyConfig, trial: TrialReport, train_rows: int) -> str:
    """The final fit's start and recipe in words, for the terminal."""
    values = final_values(config, trial, train_rows)
    settings = final_schedule(config, trial, train_rows)
    rate = float(values["learning_rate"])
    words = [
        f"{recipe_of(config, trial, train_rows)} recipe",
        "from the trial's weights" if config.retrain_from == "trial" else "from scratch",
        f"{values['optimizer']} {rate:.2g} then {rate * float(values['fine_tune_factor']):.2g}",
        f"batch {values['batch_size']}",
        f"L2 {float(values['l2']):.2g} (the trial's x {l2_share(trial, train_rows):.3g})",
    ]
    if settings.get("ema_momentum"):
        words.append(f"weights averaged (momentum {settings['ema_momentum']:g})")
    if settings.get("decay_2", 1.0) != 1.0:
        words.append(f"phase-2 rate x {settings['decay_2']:g} an epoch")
    return ", ".join(words)
