"""The best trial's pipeline: retrain -> validate on the test split -> export.

Writes `results/<study>/best/`: history.csv, learning_curve.png,
validation/ (PNGs + metrics.json), export/ (see study/best/export.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.best.card import FinalMetrics, ModelCard, TestMetrics
from study.config import StudyConfig
from study.store.atomic import write_json_atomic
from study.store.records import write_history

log = logging.getLogger(__name__)
C_CHECK_ROWS = 100_000  # raw test rows the compiled C is checked on (SavedModel: 5,000)
FINAL = "final"  # best/final/: the final fit's model until its export has landed


def check_raw_rows(dataset) -> np.ndarray:
    """The first C_CHECK_ROWS rows of the test split in physical units (the features)."""
    from study.errors import ExportError

    frame = dataset.test.to_pandas(dataset.features)[:C_CHECK_ROWS]
    physical = dataset.preprocessing.inverse_transform(frame)
    rows = physical[dataset.features].to_numpy(np.float32)
    if not len(rows):
        raise ExportError(f"{dataset.path}: no test rows to check the export on")
    return rows


def predict_split(model, reader) -> tuple[np.ndarray, np.ndarray]:
    x, y = reader.to_numpy()
    return model.predict(x, batch_size=8192, verbose=0)[:, 0], y[:, 0]


@dataclass(frozen=True)
class FinalFit:
    """What `run_best` did: the model card of the export, where the export is, and the
    CCheckFailed of an export that landed without its C library (None: it has one)."""

    card: ModelCard
    export: Path
    c_check_failed: Exception | None = None


def run_best(config: StudyConfig, dataset, trial_id: str | None = None, budget=None) -> FinalFit:
    """Retrain, validate and export. A time budget (a study.budget.Budget) leaves the
    retrain what the final stages do not need."""
    from study.errors import CCheckFailed
    from study.store.atomic import plain_directory
    from study.store.checkpoint import Checkpoint
    from study.store.study_file import restore_study

    best_dir = config.study_dir / "best"
    restore_study(config.study_dir)  # a swap of best/export cut between its renames
    plain_directory(best_dir / "validation", config.study_dir)  # a linked best/ refused
    trial, why, done = _retrain(config, dataset, trial_id, budget)
    metrics = _validate(config, dataset, trial, done)
    card = _card(config, dataset, trial, done, metrics, why)
    save_final(best_dir / FINAL, done.model, card)  # `run_study.py export` starts from it
    Checkpoint(best_dir / "checkpoint").clear()
    failed = None
    try:
        export_final(config, dataset, done.model, card)
    except CCheckFailed as err:
        failed = err
    return FinalFit(card, best_dir / "export", failed)


def save_final(directory, model, card: ModelCard) -> None:
    """best/final/: the final fit's model.keras and the model card's first fields, swapped
    in whole: an export cut short (a kill, a crash, a check that fails) is finished from it
    by `run_study.py export`, without training again."""
    from study.best.export import fresh_directory
    from study.store.atomic import swap_directory

    tmp = fresh_directory(directory.with_name(directory.name + ".tmp"))
    model.save(tmp / "model.keras")
    write_json_atomic(tmp / "card.json", card.to_dict())
    swap_directory(tmp, directory)


def _retrain(config: StudyConfig, dataset, trial_id: str | None, budget):
    """(the trial chosen, why in words, its Retrained) with the learning curve written; says
    terminal what it trains on and whether it converged."""
    from study.best.recipe import describe
    from study.best.retrain import draw_learning_curve, retrain
    from study.budget import finish_seconds
    from study.choice import chosen_trial

    best_dir = config.study_dir / "best"
    finish_s = finish_seconds(dataset.test.num_rows)
    left = budget.left() if budget else None
    split_rows = {s: getattr(dataset, s).num_rows for s in ("train", "validation")}
    trial, why = chosen_trial(
        config, trial_id, split_rows, None if left is None else left - finish_s
    )
    deadline = budget.deadline(finish_s) if budget else None
    log.info(
        "retraining trial %s (search objective %.5f) on all %s training rows, validating on "
        "%s, %s, both phases to early stopping (patience %d and %d, cap %d epochs a phase%s)",
        trial.trial_id, trial.objective, f"{dataset.train.num_rows:,}",
        f"{dataset.validation.num_rows:,}", describe(config, trial, dataset.train.num_rows),
        config.retrain_patience, config.retrain_patience_2, config.retrain_max_epochs,
        f"; {budget.status()}" if budget and budget.total_s else "",
    )  # fmt: skip

    def on_epoch(record, best):
        if budget is not None:
            budget.save()
        log.info(
            "  retrain epoch %3d  phase %d  lr %.2e  loss %.5f  val_bce %.5f  (best %.5f)",
            record.epoch, record.phase, record.learning_rate, record.loss, record.val_bce, best,
        )  # fmt: skip

    done = retrain(config, dataset, trial, on_epoch, deadline)
    if not done.convergence["converged"]:
        log.warning(
            "warning: the retrained model did not converge (%s); raise --retrain-max-epochs%s "
            "and run `retrain` again",
            done.convergence["reason"],
            " or --time-budget" if deadline is not None else "",
        )
    write_history(best_dir / "history.csv", done.result.history)
    draw_learning_curve(
        done.result.history, best_dir / "learning_curve.png", f"trial {trial.trial_id} retrained"
    )
    return trial, why, done


def _validate(config: StudyConfig, dataset, trial, done) -> FinalMetrics:
    """The validation metrics on the test split, written and drawn under best/validation/."""
    from study.best.validation import draw_validation, json_ready, validate, worst_bins
    from study.data.synthetic import TRUTH

    best_dir = config.study_dir / "best"
    prob, label = predict_split(done.model, dataset.test)
    frame = dataset.test.to_pandas()
    physical = dataset.preprocessing.inverse_transform(frame)
    truth = frame[TRUTH].to_numpy() if TRUTH in frame else None
    figures = validate(physical, label, prob, dataset.features, truth, config.validation_bins)
    metrics = FinalMetrics(
        **figures,
        trial_id=trial.trial_id,
        retrain_objective=done.result.objective,
        **done.convergence,
        retrain_epochs=len(done.result.history),
        weights=done.kept,
        training_rows=dataset.train.num_rows,
    )
    write_json_atomic(best_dir / "validation" / "metrics.json", json_ready(metrics.to_dict()))
    draw_validation(figures, best_dir / "validation")
    print_summary(metrics, worst_bins(figures))
    return metrics


def _card(config: StudyConfig, dataset, trial, done, metrics: FinalMetrics, why: str):
    """The model card's fields that the final fit and its validation give, and why the
    final fit took its trial."""
    from study.best.recipe import final_values

    return ModelCard(
        study=config.study,
        trial_id=trial.trial_id,
        hyperparameters=trial.hyperparameters,
        # what the final fit trained: the recipe's optimizer, rates and batch, the L2 divided
        final_fit_hyperparameters=final_values(config, trial, dataset.train.num_rows),
        search_objective=trial.objective,
        retrain_objective=metrics.retrain_objective,
        converged=metrics.converged,
        reason=metrics.reason,
        training_rows=metrics.training_rows,
        retrain_epochs=metrics.retrain_epochs,
        test_metrics=TestMetrics.of(metrics),
        data_fingerprint=dataset.fingerprint(),
        parameters=int(done.model.count_params()),
        weights=done.kept,  # the final fit's or the trial's own: the better on validation
        chosen_because=why,
    )


def export_final(config: StudyConfig, dataset, model, card: ModelCard) -> None:
    """best/export/: the model, its SavedModel and model_card.json, checked; best/final/
    removed once it has landed (CCheckFailed: landed, its C set aside)."""
    import shutil

    from study.best.export import export_model
    from study.errors import CCheckFailed

    directory = config.study_dir / "best" / "export"
    rows = check_raw_rows(dataset)
    try:
        check = export_model(
            model, dataset.preprocessing, directory, card, rows, config.c_name, config.c_march
        )
    except CCheckFailed:
        shutil.rmtree(config.study_dir / "best" / FINAL)
        raise
    shutil.rmtree(config.study_dir / "best" / FINAL)
    if check.get("saved_model"):
        log.info(
            "export: the SavedModel is %s; `run_study.py export --results %s --study %s` "
            "writes and checks it on a machine with TensorFlow",
            check["saved_model"], config.results, config.study,
        )  # fmt: skip
        return
    log.info(
        "export checked: SavedModel on raw features vs model.keras, max |dp| %.2e on %d rows",
        check["max_abs_difference"],
        check["rows"],
    )


def print_summary(metrics: FinalMetrics, worst: list[dict]) -> None:
    head = TestMetrics.of(metrics).to_dict()
    print("test split: " + ", ".join(f"{k} {v:.5f}" for k, v in head.items()))
    if worst:
        unit = metrics.unit or "slice"
        print(
            f"{'particle':<9} {unit:<11} {'variable':<8} {'chi2/ndf':>8} {'ndf':>4} "
            f"{'sparse':>6} {'eff true':>8} {'eff model':>9}"
        )
        for m in worst:  # sparse: sub-bins merged into a neighbour (study/best/histograms.py)
            print(
                f"{m['particle']:<9} {m['p_low']:>4g}-{m['p_high']:<6g} {m['variable']:<8} "
                f"{m['chi2_ndf']:>8.2f} {m['ndf']:>4d} {m['sparse'] or '':>6} "
                f"{m['efficiency_true']:>8.4f} {m['efficiency_model']:>9.4f}"
            )
    unscored = sum(not m["ndf"] for m in metrics.kinematic_bins or [])
    if unscored:
        print(f"({unscored} kinematic bins too sparse for a chi-square: not ranked)")
