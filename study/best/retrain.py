"""The final fit of the best trial (or a chosen one), resumable from a checkpoint.

The trial's network is trained on, seeded, on the whole training split (the trials
searched on a subsample), from the trial's weights or from scratch with the recipe of
study/best/recipe.py, both phases to early stopping;
`StudyConfig.retrain_max_epochs` is only a safety cap, and the time budget may
stop it sooner. Whether it converged is part of its result. After
every epoch a checkpoint (the compiled model with its optimizer state, the
phase's best weights, the schedule's state and the history) replaces the
previous one as a whole directory, so a killed retrain resumes at its last
finished epoch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from study import faults, seeds
from study.config import StudyConfig
from study.errors import ConfigError
from study.store.checkpoint import Checkpoint
from study.store.figures import pyplot, save_png
from study.store.records import TrialReport
from study.training.history import EpochRecord, TrainingResult, convergence
from study.training.phase_logic import RunLimits

log = logging.getLogger(__name__)
# Under a deadline phase 1 ends where another epoch would leave fewer than phase 2's
# patience plus this many epochs (phase 2 is best at its 2nd-3rd epoch, bench/README.md)
PHASE_2_BEST_EPOCHS = 2


@dataclass
class Retrained:
    model: object
    result: TrainingResult
    trial: TrialReport  # the trial's report.json
    convergence: dict  # {"converged": bool, "reason": str | None}, see schedule.convergence
    kept: dict | None = None  # which weights `model` holds and both figures (`keep_better`)


def check_study_data(config: StudyConfig, dataset) -> None:
    """Refuse (ConfigError) data other than the study's: `dataset`'s fingerprint against
    the one study.json recorded, before any training (its data path may now hold
    another dataset, whose quantiles the export would carry)."""
    from study.store.study_file import FILE, read_record

    recorded, found = read_record(config.study_dir).get("data_fingerprint"), dataset.fingerprint()
    if found != recorded:
        recorded = recorded if isinstance(recorded, str) else "(none)"
        raise ConfigError(
            f"{dataset.path}: not this study's data (fingerprint {found[:16]}, "
            f"{config.study_dir / FILE} recorded {recorded[:16]}); retrain trains only on "
            "the data the study searched on"
        )


def retrain(
    config: StudyConfig, dataset, trial: TrialReport, on_epoch=None, deadline: float | None = None
) -> Retrained:
    """Train `trial`'s network on the whole training and validation splits, both phases to
    early stopping, from the trial's weights or from scratch (study/best/recipe.py), or
    from its own checkpoint; `deadline` (a `time.monotonic()` value, from the time
    budget) stops it earlier, and says so."""
    from study.best.recipe import final_schedule, final_values
    from study.training import fit

    rows = dataset.train.num_rows
    values, settings = final_values(config, trial, rows), final_schedule(config, trial, rows)
    key = {
        "trial_id": trial.trial_id,
        "hyperparameters": values,
        "max_epochs": config.retrain_max_epochs,
        "seed": seeds.final_fit_seed(config.seed),
        "from": config.retrain_from,
        "schedule": settings,
    }
    checkpoint = Checkpoint(config.study_dir / "best" / "checkpoint")
    train, validation = dataset.train.to_numpy(), dataset.validation.to_numpy()
    restored = checkpoint.load(key)
    start = fit.start(
        values, train[0].shape[1], seeds.final_fit_seed(config.seed), restored,
        patience_1=config.retrain_patience, patience_2=config.retrain_patience_2,
        max_epochs_1=config.retrain_max_epochs, max_epochs_2=config.retrain_max_epochs,
        **settings,
    )  # fmt: skip
    schedule = start.schedule
    if start.resumed:
        log.info(
            "retrain: resuming trial %s at epoch %d (phase %d)",
            trial.trial_id, schedule.state.epoch, schedule.state.phase,
        )  # fmt: skip
    else:
        _start_from_trial(config, start.model, trial, validation)
    phase_2_epochs = config.retrain_patience_2 + PHASE_2_BEST_EPOCHS
    schedule.run_within(RunLimits(deadline=deadline, phase_2_epochs=phase_2_epochs))
    # both may change on resume
    schedule.retune(patience_1=config.retrain_patience, patience_2=config.retrain_patience_2)

    def save_checkpoint(model, schedule, history, best_weights):
        checkpoint.save(model, schedule, history, best_weights, key)
        faults.point("retrain")

    result = fit.fit(values, start, train, validation, on_epoch, save_checkpoint)
    kept = keep_better(config, start.model, trial, validation)
    return Retrained(
        start.model, result, trial, convergence(result.history, schedule.state.out_of_time), kept
    )


def keep_better(config: StudyConfig, model, trial: TrialReport, validation) -> dict:
    """Never worse than what the search already had: the final fit's weights and the
    chosen trial's own (`trials/<id>/checkpoint/`, where it kept them) are scored on the
    same whole validation split, and `model` keeps the better. A final fit that lost is a
    warning line. Returns {"kept": "final fit" | "trial", "final_fit_val_bce",
    "trial_val_bce" (None: the trial kept no weights of this network)}."""
    from study.best.recipe import trial_weights
    from study.best.validation import cross_entropy
    from study.store.records import TrialRecords

    def score() -> float:
        return cross_entropy(validation[1][:, 0], model.predict(validation[0], 8192, 0)[:, 0])

    fitted, final = model.get_weights(), score()
    weights = trial_weights(TrialRecords(config.study_dir).trial_dir(trial.trial_id))
    if weights is None or [w.shape for w in weights] != [w.shape for w in fitted]:
        return {"kept": "final fit", "final_fit_val_bce": final, "trial_val_bce": None}
    model.set_weights(weights)
    own = score()
    if own < final:
        log.warning(
            "warning: the final fit ended worse than trial %s's own weights on the whole "
            "validation split (val_bce %.5f against %.5f): the trial's weights are exported",
            trial.trial_id, final, own,
        )  # fmt: skip
        return {"kept": "trial", "final_fit_val_bce": final, "trial_val_bce": own}
    model.set_weights(fitted)
    log.info(
        "retrain: the final fit's val_bce %.5f beats trial %s's own weights' %.5f on the "
        "whole validation split", final, trial.trial_id, own,
    )  # fmt: skip
    return {"kept": "final fit", "final_fit_val_bce": final, "trial_val_bce": own}


def _start_from_trial(config: StudyConfig, model, trial: TrialReport, validation) -> None:
    """Continue from the trial's weights where `retrain_from` says so, and log their
    cross-entropy on the whole validation split."""
    from study.best.recipe import continue_from_trial
    from study.best.validation import cross_entropy

    if not continue_from_trial(config, model, trial):
        return
    p = model.predict(validation[0], batch_size=8192, verbose=0)[:, 0]
    log.info(
        "retrain: continuing from trial %s's weights: val_bce %.5f on the whole validation "
        "split (the trial's best %.5f on its subsample)",
        trial.trial_id, cross_entropy(validation[1][:, 0], p), trial.objective,
    )  # fmt: skip


def draw_learning_curve(history: list[EpochRecord], path: Path, title: str = "") -> Path:
    """Loss and val_bce against the global epoch, the phase switch marked."""
    plt = pyplot()
    epochs = [r.epoch for r in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [r.loss for r in history], label="training loss")
    ax.plot(epochs, [r.val_bce for r in history], label="validation cross-entropy")
    switch = next((r.epoch for r in history if r.phase == 2), None)
    if switch is not None:
        ax.axvline(switch - 0.5, color="0.5", linestyle="--", label="phase switch")
    ax.set_xlabel("epoch")
    ax.set_title(title, fontsize=9)
    ax.legend()
    return save_png(fig, path)
