"""The final fit's time estimate against what finished studies' final fits took.

    python bench/bench_estimate.py STUDY_DIR [STUDY_DIR ...] [--json PATH]

For each finished study (a results/<study> directory with best/history.csv and
best/export/model_card.json; its terminal log beside it, `<study>.log` as bench_zoo and
bench_quality write it, names the recipe, else the `auto` rule decides): the final fit's
measured seconds an epoch (the median, its first epoch left out) against the estimate of
its epoch that the budget makes from the study's trials (study/choice.py `pick`: the
chosen trial's rate over its epochs after the first of each phase, scaled by the work of
the whole splits and, with the full-data recipe, by the batch cost the trials measured),
and against the rule it replaced (the rate over all the trial's epochs, scaled by the
final fit's rows alone, times 0.5 with the full-data recipe). Both rates are recomputed
from the trials' history.csv, so studies of either version can be read. Also the epochs
the final fit ran (phase 1 + phase 2) and how it ended, against the RETRAIN_EPOCHS the
estimate assumes.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
from dataclasses import replace
from pathlib import Path

from common import emit

from study.budget import RETRAIN_EPOCHS, epoch_work
from study.choice import FULL_DATA_BATCH, FULL_DATA_MIN_GROWTH, cost_samples, fit_seconds
from study.store.records import TrialReport


def history(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def steady_seconds(rows: list[dict]) -> float | None:
    """The median epoch of a trial's history that was not the first of its phase."""
    seconds = [float(r["seconds"]) for i, r in enumerate(rows)
               if i > 0 and r["phase"] == rows[i - 1]["phase"]]  # fmt: skip
    return statistics.median(seconds) if seconds else None


def recipe(study: Path, card: dict, trial: TrialReport) -> str:
    log = study.with_suffix(".log")
    found = re.search(r"(full-data|trial) recipe", log.read_text()) if log.exists() else None
    if found:
        return found.group(1)
    grown = card["training_rows"] >= FULL_DATA_MIN_GROWTH * (trial.training_rows or 0)
    return "full-data" if grown else "trial"


def measure(study: Path) -> dict:
    card = json.loads((study / "best/export/model_card.json").read_text())
    reports, measured = [], {}
    for path in sorted((study / "trials").glob("*/report.json")):
        report = TrialReport.from_dict(json.loads(path.read_text()))
        epochs = history(path.parent / "history.csv")
        steady = steady_seconds(epochs)
        total = sum(float(r["seconds"]) for r in epochs)
        measured[report.trial_id] = (  # over all its epochs, as the old rule took it
            report.training_rows * len(epochs) / total
            if total and report.training_rows
            else report.rows_per_second
        )
        if report.rows_per_second and steady and report.training_rows:
            report = replace(report, rows_per_second=report.training_rows / steady)
        reports.append(report)
    chosen = next(r for r in reports if r.trial_id == str(card["trial_id"]))
    log = study.with_suffix(".log")
    validating = re.search(r"validating on ([0-9,]+)", log.read_text()) if log.exists() else None
    validation = int(validating.group(1).replace(",", "")) if validating else chosen.validation_rows
    split = {"train": card["training_rows"], "validation": validation}
    way = recipe(study, card, chosen)
    completed = [r for r in reports if r.status == "COMPLETED"]
    estimate = fit_seconds(chosen, cost_samples(completed, split), split, way == "full-data")
    fit = history(study / "best/history.csv")
    actual = statistics.median(float(r["seconds"]) for r in fit[1:])
    old = card["training_rows"] + validation / 3
    old = old / measured[chosen.trial_id] * (0.5 if way == "full-data" else 1.0)
    batch = FULL_DATA_BATCH if way == "full-data" else chosen.hyperparameters["batch_size"]
    phase_1 = sum(r["phase"] == "1" for r in fit)
    return {
        "rows": card["training_rows"], "recipe": way, "steps": -(-card["training_rows"] // batch),
        "epochs": f"{phase_1}+{len(fit) - phase_1}", "converged": bool(card["converged"]),
        "epoch_s": actual, "estimate_s": estimate / RETRAIN_EPOCHS, "old_estimate_s": old,
        "work": epoch_work(card["training_rows"], validation),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("studies", nargs="+", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures, new, old = {}, [], []
    print("study  rows  recipe  steps/epoch  epochs  converged  epoch s  estimate (x)  old (x)")
    for study in args.studies:
        m = measure(study)
        name = f"{study.parent.name}/{study.name}"
        new.append(m["estimate_s"] / m["epoch_s"])
        old.append(m["old_estimate_s"] / m["epoch_s"])
        print(f"{name}  {m['rows']:,}  {m['recipe']}  {m['steps']}  {m['epochs']}  "
              f"{m['converged']}  {m['epoch_s']:.2f}  {m['estimate_s']:.2f} ({new[-1]:.2f})  "
              f"{m['old_estimate_s']:.2f} ({old[-1]:.2f})")  # fmt: skip
        figures[f"{name}_estimate_over_epoch"] = new[-1]
    figures.update(
        estimate_over_epoch_min=min(new), estimate_over_epoch_max=max(new),
        old_over_epoch_min=min(old), old_over_epoch_max=max(old), studies=len(new),
    )  # fmt: skip
    emit(figures, args.json)


if __name__ == "__main__":
    main()
