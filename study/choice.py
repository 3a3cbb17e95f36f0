"""Which trial is best, and which one the final fit takes, with which recipe.

- `best_trial`: the completed trial with the lowest objective (the study's, the
  report's and the retrain's rule);
- `pick`: under a time budget, the best trial whose final fit fits in what is left
  (within PICK_TOLERANCE, a share, of the best objective), else the best;
- `pareto_reports`: a multi-objective study's front of (estimated C ns, objective);
- `recipe_of`: the recipe the final fit of a trial trains with (its own or full-data's);
- `choose_trial`: the trial the retrain takes (`--trial`, the best, or the pick),
  never one above the cost bound (`--max-ns-per-particle`).
"""

from __future__ import annotations

import logging

from study.budget import batch_cost_ratio, epoch_work, final_epoch_seconds, retrain_seconds
from study.config import StudyConfig
from study.durations import duration_text
from study.errors import ConfigError
from study.status import TrialStatus
from study.store.records import TrialRecords, TrialReport, finite, id_key
from study.training import cost

log = logging.getLogger(__name__)
# A trial that fits is taken instead of the best only if its objective is within this share
# of the best's (a relative figure: the objective's scale is the data's, from the Bayes
# cross-entropy up): a cheap but poor trial retrained to convergence loses to the best one
# cut by the deadline (a study once retrained a trial at 0.302 instead of the best at
# 0.171 because only the former "fit").
PICK_TOLERANCE = 0.03

# The final fit's recipe under `retrain_recipe` "auto", the trial's own or the full-data one
# (study/best/recipe.py): the search tuned optimizer, rate and
# batch on `training_rows` rows for a few epochs; where the final fit's split is less than
# FULL_DATA_MIN_GROWTH times that, those are the values tuned for about this much data, and
# the final fit keeps them; from that growth on, the full-data recipe. Measured with
# bench/bench_zoo.py (bench/README.md): at a growth of 1 (a split the trials trained on
# whole, 13 steps an epoch at batch 2048) the trial's recipe ended better (val_bce 0.186
# against 0.215); at 2.5 (123 steps) full-data's did, on both profiles tried (test
# excess 0.012 against 0.022, 0.022 against 0.036). The threshold lies between the two.
FULL_DATA_MIN_GROWTH = 2.0
FULL_DATA_BATCH = 2048  # the full-data recipe's batch size (study/best/recipe.py)


def tolerance(best_objective: float) -> float:
    """How far above the best objective a trial may be and still be picked (nats)."""
    return PICK_TOLERANCE * abs(best_objective)


def best_trial(trials):
    """The completed trial with the lowest objective (ties: the earliest trial), or None.

    The one rule the study, the retrain and the report choose by; `trials` are
    TrialReports (or anything with their trial_id, status and objective). A NaN or
    infinite objective (or one that is no number) is never the best.
    """
    done = [t for t in trials if t.status == TrialStatus.COMPLETED and finite(t.objective)]
    if not done:
        return None
    return min(done, key=lambda t: (t.objective, id_key(str(t.trial_id))))


def recipe_of(config: StudyConfig, trial: TrialReport, train_rows: int) -> str:
    """ "full-data" or "trial": `retrain_recipe`, or under "auto" the rule above."""
    if config.retrain_recipe != "auto":
        return config.retrain_recipe
    searched = searched_rows(trial, train_rows)
    return "full-data" if train_rows >= FULL_DATA_MIN_GROWTH * searched else "trial"


def searched_rows(trial: TrialReport, train_rows: int) -> int:
    """The training rows the trial's epochs covered (`train_rows` where its record does
    not say)."""
    return trial.training_rows or train_rows


def full_data_of(config: StudyConfig, split_rows: dict):
    """Whether the final fit of a trial (a TrialReport) trains with the full-data recipe."""
    rows = int(split_rows.get("train", 0))
    return lambda report: recipe_of(config, report, rows) == "full-data"


def pick(
    reports: list[TrialReport],
    split_rows: dict,
    seconds_left: float | None,
    full_data=lambda report: True,
) -> tuple[TrialReport | None, float | None]:
    """The completed trial to retrain and its estimated retrain seconds: of the trials within
    PICK_TOLERANCE of the best objective whose retrain fits in `seconds_left` (None: no
    limit), the one with the most parameters (ties: the better objective); if none fits,
    the best (its retrain is cut by the deadline); (None, None) if none.

    Why the largest: the objective is measured on the search's subsample (100,000 rows, a
    few epochs), where small networks converge first; the final fit has 12 x the rows.
    Seed 1's default study (2026-12-03, 8cb3c4f): its best trial, 3 x 89 gelu (25,277
    parameters, val_bce 0.16514), retrained to 0.00497 nats; trial 46, 5 x 180 gelu
    (165,421 parameters, 0.16844), to 0.00397 (bench/README.md)."""
    completed = [r for r in reports if r.status == TrialStatus.COMPLETED and finite(r.objective)]
    if not completed:
        return None, None

    samples = cost_samples(completed, split_rows)

    def estimate(report: TrialReport) -> float | None:
        return fit_seconds(report, samples, split_rows, full_data(report))

    ranked = sorted(completed, key=lambda r: r.objective)
    near = [
        r for r in ranked if r.objective <= ranked[0].objective + tolerance(ranked[0].objective)
    ]

    def fits(report: TrialReport) -> bool:
        seconds = estimate(report)
        return seconds_left is None or (seconds is not None and seconds <= seconds_left)

    fitting = [r for r in near if fits(r)]
    if not fitting:
        return ranked[0], estimate(ranked[0])
    chosen = max(fitting, key=lambda r: (r.parameters or 0, -r.objective))
    return chosen, estimate(chosen)


def cost_samples(reports: list[TrialReport], split_rows: dict) -> list[tuple]:
    """(FLOPs a row, batch size, seconds a row of work) of each trial that measured them,
    the samples of budget.batch_cost_ratio."""
    final_rows = _split(split_rows)
    samples = [_cost_sample(r, final_rows) for r in reports]
    return [s for s in samples if s is not None]


def fit_seconds(
    report: TrialReport, samples: list[tuple], split_rows: dict, full_data: bool
) -> float | None:
    """The estimated seconds of the final fit of `report` on the splits of `split_rows`
    (None where the trial measured no rate): RETRAIN_EPOCHS of its epoch scaled by the
    work of the splits, and with the full-data recipe by the batch cost of `samples`."""
    rate = _rate(report)
    if rate is None:
        return None
    final_rows = _split(split_rows)
    epoch_s = final_epoch_seconds(rate, _trial_rows(report, final_rows), final_rows)
    batch, flops = _batch(report), report.flops_per_particle
    if full_data and batch and flops:
        epoch_s *= batch_cost_ratio(samples, flops, batch, FULL_DATA_BATCH)
    return retrain_seconds(epoch_s)


def _rows(value) -> int:
    """A hyperparameter's or a split's count (a batch size, rows), 0 where it holds none (or
    no number, or one no float holds exactly: a results file may hold anything; a record's
    own counts are checked as it is read, TrialReport.from_dict)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**53:
        return value
    return 0


def _split(split_rows: dict) -> tuple[int, int]:
    """The (training, validation) rows of the splits the final fit trains on."""
    return _rows(split_rows.get("train")), _rows(split_rows.get("validation"))


def _rate(report: TrialReport) -> float | None:
    """A trial's measured training rows a second, None where it holds no usable one (none,
    NaN, or beyond what any machine trains)."""
    rate = report.rows_per_second
    return float(rate) if finite(rate) and 1e-6 < rate < 1e12 else None


def _batch(report: TrialReport) -> int:
    return _rows(report.hyperparameters.get("batch_size"))


def _trial_rows(report: TrialReport, final_rows: tuple[int, int]) -> tuple[int, int]:
    """The (training, validation) rows a trial's epochs covered. Where its record does not
    say (a study of an older version): the whole training split, and of the validation
    split the share the trial's training rows are of the training split."""
    train = report.training_rows or final_rows[0]
    validation = report.validation_rows or 0
    if not validation and final_rows[0]:
        validation = final_rows[1] * min(train, final_rows[0]) // final_rows[0]
    return train, validation


def _cost_sample(report: TrialReport, final_rows: tuple[int, int]):
    """(FLOPs a row, batch size, seconds a row of work) of a trial, for batch_cost_ratio."""
    batch, flops, rate = _batch(report), report.flops_per_particle, _rate(report)
    train, validation = _trial_rows(report, final_rows)
    if not (batch and flops and rate and train):
        return None
    return flops, batch, train / rate / epoch_work(train, validation)


def choose_trial(
    config: StudyConfig,
    trial_id: str | None = None,
    split_rows: dict | None = None,
    seconds_left: float | None = None,
) -> TrialReport:
    """The report of `trial_id`; else `pick`'s: of the completed trials within
    PICK_TOLERANCE of the lowest objective whose retrain on `split_rows` fits in
    `seconds_left` (None: no limit), the largest network; never one above the cost bound
    (`max_ns_per_particle`)."""
    return chosen_trial(config, trial_id, split_rows, seconds_left)[0]


def chosen_trial(
    config: StudyConfig,
    trial_id: str | None = None,
    split_rows: dict | None = None,
    seconds_left: float | None = None,
) -> tuple[TrialReport, str]:
    """`choose_trial`'s report and why it was chosen, in words (the model card keeps it)."""
    reports = TrialRecords(config.study_dir).reports()
    if config.max_ns_per_particle:
        reports = _within_bound(reports, config.max_ns_per_particle, trial_id)
    if trial_id is not None:
        found = [r for r in reports if r.trial_id == str(trial_id)]
        if not found:
            raise ConfigError(f"{config.study_dir / 'trials'}: no trial {trial_id!r}")
        if found[0].status != TrialStatus.COMPLETED:
            raise ConfigError(f"trial {trial_id} is {found[0].status}, not completed")
        if config.multi_objective:
            front = [r.trial_id for r in pareto_reports(reports)]
            where = "on" if found[0].trial_id in front else "not on"
            log.info("retrain: trial %s is %s the Pareto front (%s)", trial_id, where,
                     ", ".join(front))  # fmt: skip
        return found[0], f"chosen by hand (retrain --trial {trial_id})"
    best = best_trial(reports)
    if best is None:
        raise ConfigError(f"{config.study_dir}: no completed trial to retrain")
    completed = [r for r in reports if r.status == TrialStatus.COMPLETED]
    full_data = full_data_of(config, split_rows or {})
    chosen, seconds = pick(completed, split_rows or {}, seconds_left, full_data)
    bound = config.max_ns_per_particle
    among = f" among the trials under max_ns_per_particle {bound}" if bound else ""
    if chosen is best:
        return chosen, "the search's best trial" + among
    fits = "" if seconds_left is None else (
        f" whose retrain (~{duration_text(seconds)}) fits in the "
        f"{duration_text(seconds_left)} the budget leaves"
    )  # fmt: skip
    why = (
        f"the largest network within {tolerance(best.objective):.2g} nats "
        f"({100 * PICK_TOLERANCE:g} %) of the best{fits}"
    )
    log.info(
        "retrain: trial %s (objective %.5f, %s parameters) is %s; the best is trial %s "
        "(%.5f, %s parameters)",
        chosen.trial_id, chosen.objective, f"{chosen.parameters or 0:,}", why,
        best.trial_id, best.objective, f"{best.parameters or 0:,}",
    )  # fmt: skip
    return chosen, why + among


def pareto_reports(reports: list[TrialReport]) -> list[TrialReport]:
    """The completed trials on the Pareto front of (estimated C ns a particle, objective),
    by increasing cost (study/training/cost.py)."""
    completed = {
        r.trial_id: r
        for r in reports
        if r.status == TrialStatus.COMPLETED and finite(r.objective)
        and r.flops_per_particle
    }  # fmt: skip
    points = [
        (tid, cost.estimated_c_ns(r.flops_per_particle), r.objective)
        for tid, r in completed.items()
    ]
    return [completed[tid] for tid in cost.pareto_front(points)]


def _within_bound(
    reports: list[TrialReport], max_ns: int, trial_id: str | None
) -> list[TrialReport]:
    """The reports whose estimated C time is at most `max_ns`; ConfigError for a chosen
    trial above it."""

    def ns(report: TrialReport) -> float:
        flops = report.flops_per_particle
        return report.c_ns_estimate or (cost.estimated_c_ns(flops) if flops else 0.0)

    kept = [r for r in reports if ns(r) <= max_ns]
    over = {r.trial_id for r in reports} - {r.trial_id for r in kept}
    if trial_id is not None and str(trial_id) in over:
        found = next(r for r in reports if r.trial_id == str(trial_id))
        raise ConfigError(
            f"trial {trial_id}: its estimated {ns(found):.0f} ns a particle is "
            f"above --max-ns-per-particle {max_ns}"
        )
    if over:
        log.info("retrain: %d trials above the cost bound left out", len(over))
    return kept
