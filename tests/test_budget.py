"""The time budget: durations, what is left across runs, when the search stops."""

import json

import pytest

from study.budget import Budget, retrain_seconds, search_should_stop
from study.durations import parse_duration
from study.errors import ConfigError
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


def test_retrain_estimate_scales_with_the_full_split():
    # 45 epochs of 1,000,000 training rows + 300,000 validation rows (a third each) at
    # 100k/s, at half the trial's cost an epoch with the full-data recipe's batch
    assert retrain_seconds(100_000, 1_000_000, 300_000) == pytest.approx(45 * 0.5 * 11.0)
    assert retrain_seconds(100_000, 1_000_000, 300_000, full_data=False) == pytest.approx(495)


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

    rows = {"train": 1_000_000, "validation": 300_000}  # 45 x 0.5 x 1.1 M rows an estimate

    def report(trial_id, objective, rate, status="COMPLETED"):
        return TrialReport(trial_id, status, objective=objective, rows_per_second=rate)

    slow_best, fast = report("0", 0.15, 11_000), report("1", 0.154, 110_000)
    poor = report("3", 0.30, 1_100_000)  # fits any budget, 0.15 nats worse than the best
    reports = [slow_best, fast, report("2", 0.10, 1e6, status="PRUNED"), poor]
    assert pick(reports, rows, None) == (slow_best, pytest.approx(2250.0))
    assert pick(reports, rows, 2250.0)[0] is slow_best  # fits
    assert pick(reports, rows, 2200.0) == (fast, pytest.approx(225.0))  # within 3 % (0.0045)
    trial_recipe = lambda report: False  # noqa: E731 (the final fit at the trial's rate)
    assert pick(reports, rows, 2200.0, trial_recipe) == (fast, pytest.approx(450.0))
    assert pick(reports, rows, 100.0)[0] is slow_best  # only the poor one fits: the best
    fast.objective = 0.16  # beyond PICK_TOLERANCE of the best: never taken for its speed
    assert pick(reports, rows, 2200.0)[0] is slow_best
    assert pick([reports[2]], rows, None) == (None, None)


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
    """The best trial's final fit (2,250 s at its rate) cannot fit in the 60 % of a
    1,800-s budget the final fit may have: the search holds back the estimate of the
    trial within 3 % of it that fits (225 s), not the cap (1,080 s)."""
    from study.config import StudyConfig
    from study.search.budget_hooks import BudgetHooks

    def report(trial_id, objective, rate):
        return TrialReport(
            trial_id, "COMPLETED", objective, rows_per_second=rate, seconds=30.0,
            training_rows=100_000,  # 1/10 of the split: the full-data recipe
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
    assert retrain_s == pytest.approx(225.0)
    hooks.config = StudyConfig(retrain_recipe="trial")  # the trial's batch: its rate as is
    assert hooks._estimates(hooks.records.reports())[0] == pytest.approx(450.0)


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
    """A results file from elsewhere: a parameter count that is no number counts as 0."""
    from study.choice import pick

    rows = {"train": 1_000_000, "validation": 300_000}
    best = TrialReport("0", "COMPLETED", 0.150, parameters=1_000, rows_per_second=110_000)
    liar = TrialReport.from_dict(
        {"trial_id": "1", "status": "COMPLETED", "objective": 0.151, "parameters": "9e99",
         "rows_per_second": 110_000}
    )  # fmt: skip
    assert pick([best, liar], rows, None)[0] is best
