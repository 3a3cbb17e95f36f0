"""The time budget: durations, what is left across runs, when the search stops."""

import json
from dataclasses import replace

import pytest

from study.budget import Budget, final_epoch_seconds, retrain_seconds, search_should_stop
from study.durations import parse_duration
from study.errors import ConfigError, DataError
from study.store.records import TrialReport


@pytest.mark.parametrize(
    "text, seconds",
    [("45s", 45), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("90", 90), ("0.5m", 30)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30 minutes", "m30", "-5m", "0s", "1x"])
def test_bad_durations_name_the_field(text):
    with pytest.raises(ConfigError, match="time_budget: expected"):
        parse_duration(text)


def test_a_resumed_budget_counts_the_earlier_runs(tmp_path):
    (tmp_path / "budget.json").write_text(json.dumps({"budget_s": 600, "spent_s": 400.0}))
    budget = Budget(600.0, start=0.0)
    budget.attach(tmp_path)
    assert budget.spent_before == 400.0
    fresh = Budget(600.0)
    fresh.attach(tmp_path / "elsewhere")
    assert fresh.spent_before == 0.0 and 0 <= fresh.spent() < 5
    fresh.path = tmp_path / "budget.json"
    fresh.save()
    assert json.loads((tmp_path / "budget.json").read_text())["budget_s"] == 600.0


def test_retrain_estimate_scales_a_trials_epoch_by_the_work_of_the_final_fits():
    # a trial's epoch: 100,000 training rows at 10,000 rows/s = 10 s, with the validation
    # pass of its 60,000 rows (a third of a training row each): 120,000 rows of work; the
    # final fit's: 1,000,000 + 300,000 / 3 = 1,100,000, so 10 s x 1.1 M / 120 k a epoch
    epoch_s = final_epoch_seconds(10_000, (100_000, 60_000), (1_000_000, 300_000))
    assert epoch_s == pytest.approx(10.0 * 1_100_000 / 120_000)
    assert retrain_seconds(epoch_s) == pytest.approx(45 * epoch_s)
    assert final_epoch_seconds(10_000, (100_000, 60_000), (100_000, 60_000)) == 10.0


def test_the_batch_cost_ratio_is_fitted_to_the_trials_of_the_study():
    """Trials timed by a known cost a row (1e-11 s a FLOP + 2e-3 s a step / batch + 1e-6 s)
    give back the change of batch of that cost; trials of one batch size, or too few, say
    nothing (1)."""
    from study.budget import batch_cost_ratio

    def cost(flops, batch):
        return 1e-11 * flops + 2e-3 / batch + 1e-6

    shapes = [(40_000, 512), (200_000, 1024), (650_000, 512), (1_000_000, 4096), (7_000, 2048)]
    samples = [(f, b, cost(f, b)) for f, b in shapes]
    expected = cost(206_200, 2048) / cost(206_200, 512)
    assert batch_cost_ratio(samples, 206_200, 512, 2048) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.5796, abs=1e-4)  # a step's share falls with 4x the batch
    assert batch_cost_ratio(samples, 206_200, 2048, 2048) == 1.0
    one_batch = [(f, 512, cost(f, 512)) for f, _ in shapes]
    assert batch_cost_ratio(one_batch, 206_200, 512, 2048) == 1.0
    assert batch_cost_ratio(samples[:3], 206_200, 512, 2048) == 1.0  # under 4 trials


def test_a_study_that_ends_with_minutes_left_says_why():
    from study.budget import unused

    budget = Budget(1800.0)
    budget.spent_before = 1800.0 - 642.4  # 10m42s left
    assert unused(budget, 50, 50).startswith("10m42s of the budget unused: all 50 trials")
    assert "took less than held back" in unused(budget, 31, 50)
    budget.spent_before = 1800.0 - 30.0
    assert unused(budget, 50, 50) is None
    assert unused(Budget(None), 50, 50) is None


def test_search_stops_when_trial_retrain_and_finish_no_longer_fit():
    budget = Budget(1000.0)
    budget.spent_before = 500.0  # 500 s left
    assert search_should_stop(budget, [50, 60, 70], retrain_s=None, finish_s=30) is None
    assert search_should_stop(budget, [50, 60, 70], retrain_s=400, finish_s=30) is None
    why = search_should_stop(budget, [50, 60, 70], retrain_s=420, finish_s=30)
    assert why.startswith("time budget: 8m") and "no further trial (~1m00s) fits" in why
    assert search_should_stop(Budget(None), [50], retrain_s=1e9, finish_s=30) is None


def test_pick_prefers_the_best_trial_whose_retrain_fits():
    from study.choice import pick

    rows = {"train": 1_000_000, "validation": 300_000}  # 1.1 M rows of work an epoch

    def report(trial_id, objective, rate, status="COMPLETED"):
        return TrialReport(trial_id, status, objective=objective, rows_per_second=rate,
                           training_rows=100_000, validation_rows=50_000)  # fmt: skip

    def fit_s(rate):  # 45 epochs of the trial's epoch x 1.1 M / 116,667 rows of work
        return 45 * 100_000 / rate * 1_100_000 / (100_000 + 50_000 / 3)

    slow_best, fast = report("0", 0.15, 11_000), report("1", 0.154, 110_000)
    poor = report("3", 0.30, 1_100_000)  # fits any budget, 0.15 nats worse than the best
    reports = [slow_best, fast, report("2", 0.10, 1e6, status="PRUNED"), poor]
    assert pick(reports, rows, None) == (slow_best, pytest.approx(fit_s(11_000)))
    assert fit_s(11_000) == pytest.approx(3857.1, abs=0.1)
    assert pick(reports, rows, 3860.0)[0] is slow_best  # fits
    assert pick(reports, rows, 3800.0) == (fast, pytest.approx(fit_s(110_000)))  # within 3 %
    assert pick(reports, rows, 100.0)[0] is slow_best  # only the poor one fits: the best
    reports[1] = replace(fast, objective=0.16)  # beyond PICK_TOLERANCE: never taken for speed
    assert pick(reports, rows, 3800.0)[0] is slow_best
    assert pick([reports[2]], rows, None) == (None, None)
    old = TrialReport("4", "COMPLETED", 0.15, rows_per_second=11_000)  # no rows recorded
    assert pick([old], rows, None)[1] == pytest.approx(45 * 1_000_000 / 11_000)  # the splits'


def test_pick_scales_a_full_data_fit_by_the_batch_cost_the_trials_measured():
    """Trials at batch 512 to 4096 timed by one cost a row: the full-data recipe's fit (batch
    2048) of a trial at 512 is estimated at that cost's ratio; the trial recipe's as is."""
    from study.choice import pick

    def cost(flops, batch):  # seconds a row of work
        return 1e-11 * flops + 2e-3 / batch + 1e-6

    def report(trial_id, objective, flops, batch):
        rate = 1 / (cost(flops, batch) * (100_000 + 50_000 / 3) / 100_000)
        return TrialReport(
            trial_id, "COMPLETED", objective, rows_per_second=rate, training_rows=100_000,
            validation_rows=50_000, flops_per_particle=flops, hyperparameters={"batch_size": batch},
        )  # fmt: skip

    best = report("0", 0.15, 206_200, 512)
    reports = [best, report("1", 0.2, 40_000, 1024), report("2", 0.2, 650_000, 4096),
               report("3", 0.2, 7_000, 2048)]  # fmt: skip
    rows = {"train": 1_000_000, "validation": 300_000}
    trial_recipe = pick(reports, rows, None, lambda r: False)[1]
    assert trial_recipe == pytest.approx(45 * 1_100_000 * cost(206_200, 512))
    full_data = pick(reports, rows, None)[1]
    assert full_data == pytest.approx(trial_recipe * cost(206_200, 2048) / cost(206_200, 512))


def test_retrain_reserve_is_capped_by_its_share_of_the_budget():
    from study.budget import RETRAIN_SHARE, retrain_reserve

    budget = Budget(1000.0)
    assert retrain_reserve(budget, 200.0) == 200.0
    assert retrain_reserve(budget, 5000.0) == RETRAIN_SHARE * 1000.0
    assert retrain_reserve(budget, None) == RETRAIN_SHARE * 1000.0  # no rate measured yet


def test_no_retrain_holds_nothing_back_for_it(tmp_path):
    """--no-retrain: the search may spend the budget but the report's seconds."""
    from study.config import StudyConfig
    from study.search.budget_hooks import BudgetHooks
    from study.store.records import TrialRecords
    from study.testing.scripted import write_study

    class Hooks(BudgetHooks):  # what the tuner gives the hooks
        is_worker = False
        split_rows = {"train": 1_250_000, "validation": 250_000, "test": 1_000_000}
        config = StudyConfig()

    hooks = Hooks()
    hooks.records = TrialRecords(write_study(tmp_path, "s", ["COMPLETED"] * 4))
    hooks.budget = Budget(1000.0)
    hooks.budget.spent_before = 1000.0 - 300.0  # 300 s left: a trial, not a full-data retrain
    seconds = sorted(r.seconds for r in hooks.records.reports())
    assert seconds[2] < 290  # the median trial fits in what is left but the report's 10 s
    assert "kept for the retrain (~10m00s)" in hooks.budget_stop()  # held back for it
    hooks.budget.retrain = False
    assert hooks.budget_stop() is None
    hooks.budget.spent_before = 1000.0 - seconds[2] - 5.0  # now not even one trial fits
    assert "kept for the report (~0m10s); no further trial" in hooks.budget_stop()


def test_the_search_holds_back_the_fit_of_the_trial_that_fits_in_the_final_share():
    """The best trial's final fit (3,857 s at its rate) cannot fit in the 60 % of a
    1,800-s budget the final fit may have: the search holds back the estimate of the
    trial within 3 % of it that fits (386 s), not the cap (1,080 s)."""
    from study.config import StudyConfig
    from study.search.budget_hooks import BudgetHooks

    def report(trial_id, objective, rate):
        return TrialReport(
            trial_id, "COMPLETED", objective, rows_per_second=rate, seconds=30.0,
            training_rows=100_000, validation_rows=50_000,  # 1/10 and 1/6 of the splits
        )  # fmt: skip

    class Records:
        def reports(self):
            return [report("0", 0.150, 11_000), report("1", 0.154, 110_000)]

    class Hooks(BudgetHooks):
        is_worker = False
        split_rows = {"train": 1_000_000, "validation": 300_000, "test": 1_000}
        config = StudyConfig()
        records = Records()

    hooks = Hooks()
    hooks.budget = Budget(1800.0)
    retrain_s, _, _ = hooks._estimates(hooks.records.reports())
    assert retrain_s == pytest.approx(45 * 100_000 / 110_000 * 1_100_000 / (100_000 + 50_000 / 3))
    assert retrain_s == pytest.approx(385.7, abs=0.1)


def test_pick_takes_the_largest_network_near_the_best_that_fits():
    """The search's objective is measured on a subsample where small networks win; of the
    trials within PICK_TOLERANCE whose final fit fits, the one with the most parameters."""
    from study.choice import PICK_TOLERANCE, pick

    rows = {"train": 1_000_000, "validation": 300_000}

    def report(trial_id, objective, parameters, rate=110_000):
        return TrialReport(
            trial_id, "COMPLETED", objective, parameters=parameters, rows_per_second=rate
        )

    small_best = report("16", 0.16514, 25_277)
    large = report("46", 0.16844, 165_421)  # within 3 % of the best
    huge_poor = report("25", 0.16514 * (1 + PICK_TOLERANCE) + 1e-4, 516_223)  # beyond it
    reports = [small_best, large, huge_poor]
    assert pick(reports, rows, None)[0] is large  # no limit: the largest near the best
    assert pick(reports, rows, 10_000.0)[0] is large
    slow_large = report("46", 0.16844, 165_421, rate=11_000)  # its fit: ~2,250 s
    assert pick([small_best, slow_large], rows, 1_000.0)[0] is small_best  # it fits alone
    assert pick([small_best, slow_large], rows, 100.0)[0] is small_best  # none fits: best


def test_pick_reads_no_parameter_count_from_a_record_that_lies():
    """A results file from elsewhere: a parameter count that is no number is refused as the
    record is read; one that is absent counts as 0."""
    from study.choice import pick

    rows = {"train": 1_000_000, "validation": 300_000}
    best = TrialReport("0", "COMPLETED", 0.150, parameters=1_000, rows_per_second=110_000)
    liar = {"trial_id": "1", "status": "COMPLETED", "objective": 0.151, "parameters": "9e99",
            "rows_per_second": 110_000}  # fmt: skip
    with pytest.raises(DataError, match="parameters is not a whole number"):
        TrialReport.from_dict(liar)
    silent = TrialReport.from_dict({k: v for k, v in liar.items() if k != "parameters"})
    assert pick([best, silent], rows, None)[0] is best


def test_pick_estimates_without_rows_where_nothing_says_them():
    """A report with FLOPs and a batch size but no rows, picked with no splits (`retrain
    --trial`-less calls of an older study): chosen, its estimate 0, nothing divided by 0."""
    from study.choice import pick

    report = TrialReport("0", "COMPLETED", 0.39, rows_per_second=1_000.0,
                         flops_per_particle=5_000, hyperparameters={"batch_size": 512})  # fmt: skip
    assert pick([report], {}, None) == (report, 0.0)


@pytest.mark.parametrize(
    "field,value,refused",
    [("hyperparameters", None, False), ("hyperparameters", ["batch_size", 512], True),
     ("rows_per_second", "fast", True), ("rows_per_second", float("nan"), False),
     ("rows_per_second", float("inf"), False), ("rows_per_second", True, True),
     ("rows_per_second", -5.0, False), ("training_rows", 10**400, True),
     ("validation_rows", "many", True), ("flops_per_particle", 10**400, True),
     ("batch_size", 10**400, False), ("batch_size", 0.5, False)],
)  # fmt: skip
def test_pick_survives_a_results_file_that_lies(field, value, refused):
    """A report.json from elsewhere may hold any JSON value: a field of the wrong kind is
    refused as it is read (naming it), and the budget's pick neither crashes nor believes
    the rest (an unusable rate: no estimate; an unusable batch size: not used)."""
    import math

    from study.choice import pick

    def record(trial_id, batch):
        return {"trial_id": trial_id, "status": "COMPLETED", "objective": 0.15,
                "rows_per_second": 50_000.0, "training_rows": 100_000,
                "validation_rows": 50_000, "flops_per_particle": 200_000,
                "hyperparameters": {"batch_size": batch}}  # fmt: skip

    records = [record(str(k), b) for k, b in enumerate((512, 1024, 2048, 4096))]
    if field == "batch_size":
        records[0]["hyperparameters"]["batch_size"] = value
    else:
        records[0][field] = value
    if refused:
        with pytest.raises(DataError, match=f"report.json: {field} is not"):
            TrialReport.from_dict(records[0])
        records[0].pop(field)
    reports = [TrialReport.from_dict(r) for r in records]
    rows = {"train": 1_000_000, "validation": 300_000}
    for chosen, seconds in (pick(reports, rows, None), pick(reports[:1], rows, None)):
        assert chosen is not None
        assert seconds is None or (math.isfinite(seconds) and seconds > 0)


def test_the_batch_cost_ratio_is_1_where_the_fit_cannot_be_trusted():
    from study.budget import batch_cost_ratio

    tiny = [(5e4, 512, 1e-320), (1e5, 1024, 1e-320), (2e5, 2048, 1e-320), (4e5, 4096, 1e-320)]
    assert batch_cost_ratio(tiny, 1e5, 512, 2048) == 1.0  # 1 / seconds overflows
    nan = [(5e4, 512, float("nan"))] * 4 + [(1e5, 1024, 1e-6)]
    assert batch_cost_ratio(nan, 1e5, 512, 2048) == 1.0  # one usable sample
