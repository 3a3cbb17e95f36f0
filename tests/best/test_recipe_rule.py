"""The final fit's recipe follows the data: the trial's own values where the training split
is under FULL_DATA_MIN_GROWTH x the rows the trial trained on, the full-data recipe from
there, and a weight average whose horizon is a share of an epoch's steps."""

import pytest

from study.best import recipe
from study.config import StudyConfig
from study.store.records import TrialReport

TRIAL = {"n_blocks": 2, "width": 16, "activation": "tanh", "l2": 0.0, "optimizer": "rmsprop",
         "learning_rate": 1e-3, "fine_tune_factor": 0.1, "batch_size": 512}  # fmt: skip


def trial(training_rows):
    return TrialReport("3", "COMPLETED", 0.2, hyperparameters=TRIAL, training_rows=training_rows)


def test_two_datasets_of_different_sizes_get_the_recipes_the_rule_says(tmp_path):
    config = StudyConfig(results=tmp_path)
    assert config.retrain_recipe == "auto"
    searched = trial(25_000)  # the trial's subsample: all of a small split, or 25,000 rows
    # 25,000 training rows: the trial trained on all of them; its own values
    assert recipe.recipe_of(config, searched, 25_000) == "trial"
    assert recipe.final_values(config, searched, 25_000) == TRIAL
    assert "ema_momentum" not in recipe.final_schedule(config, searched, 25_000)
    assert recipe.describe(config, searched, 25_000).startswith("trial recipe, from scratch")
    # 49,999 rows: still under 2 x 25,000
    assert recipe.recipe_of(config, searched, 49_999) == "trial"
    # 50,000 rows and more: the full-data recipe, the network the trial's
    values = recipe.final_values(config, searched, 50_000)
    assert values == {**TRIAL, **recipe.FULL_DATA}
    assert (values["optimizer"], values["batch_size"], values["n_blocks"]) == ("adam", 2048, 2)
    assert recipe.describe(config, searched, 50_000).startswith("full-data recipe")


def test_the_forced_recipes_ignore_the_rule(tmp_path):
    small = trial(25_000)
    full = StudyConfig(results=tmp_path, retrain_recipe="full-data")
    assert recipe.final_values(full, small, 25_000)["batch_size"] == 2048
    own = StudyConfig(results=tmp_path, retrain_recipe="trial")
    assert recipe.final_values(own, small, 10_000_000) == TRIAL


def test_a_trial_without_its_rows_is_taken_as_trained_on_the_whole_split(tmp_path):
    config = StudyConfig(results=tmp_path)
    assert recipe.recipe_of(config, trial(None), 1_000_000) == "trial"
    assert recipe.recipe_of(config, trial(0), 1_000_000) == "trial"


@pytest.mark.parametrize(
    "rows, momentum",
    [
        (1_250_000, 1 - 6 / 611),  # 611 steps an epoch at 2048: a horizon of ~102 steps
        (250_000, 1 - 6 / 123),  # 123 steps: ~20.5
        (79_704, 0.0),  # 39 steps: a horizon of 6.5 steps, under 10: no average
        (4_000, 0.0),
    ],
)
def test_the_weight_average_s_horizon_is_a_sixth_of_an_epoch_s_steps(rows, momentum, tmp_path):
    assert recipe.ema_momentum(rows, 2048) == pytest.approx(momentum, abs=1e-12)
    config = StudyConfig(results=tmp_path, retrain_recipe="full-data")
    settings = recipe.final_schedule(config, trial(rows // 10), rows)
    assert settings["ema_momentum"] == pytest.approx(momentum, abs=1e-12)


@pytest.mark.parametrize(
    "recipe_name, searched, rows, l2",
    [
        ("auto", 100_000, 1_250_000, 8e-5),  # full-data: the prior over 12.5 x the rows
        ("auto", 25_000, 40_000, 6.25e-4),  # the trial's recipe: 1.6 x the rows
        ("auto", 25_000, 25_000, 1e-3),  # the same rows: the trial's own L2
        ("trial", 100_000, 50_000, 1e-3),  # fewer rows than the trial's: never raised
        ("auto", None, 1_000_000, 1e-3),  # the trial's rows unknown: its own L2
    ],
)
def test_the_final_fit_s_l2_is_the_trial_s_over_the_growth_of_its_rows(
    recipe_name, searched, rows, l2, tmp_path
):
    config = StudyConfig(results=tmp_path, retrain_recipe=recipe_name)
    searched_trial = TrialReport(
        "3", "COMPLETED", 0.2, hyperparameters={**TRIAL, "l2": 1e-3}, training_rows=searched
    )
    values = recipe.final_values(config, searched_trial, rows)
    assert values["l2"] == pytest.approx(l2, rel=1e-12)
    assert searched_trial.hyperparameters["l2"] == 1e-3  # the trial's record untouched
    assert (values["n_blocks"], values["width"]) == (2, 16)
    assert f"L2 {l2:.2g} (the trial's x " in recipe.describe(config, searched_trial, rows)
