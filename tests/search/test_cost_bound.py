"""--max-ns-per-particle: no trial above the bound is sampled or retrained."""

import keras_tuner
import pytest

from study.choice import choose_trial, chosen_trial
from study.config import StudyConfig
from study.errors import ConfigError
from study.search.cost_bound import within
from study.search.oracles import make_oracle
from study.space import declare
from study.testing.scripted import write_study
from study.training import cost


def _draws(tmp_path, bound: int, n: int = 40) -> list[dict]:
    config = StudyConfig(
        tuner="random", max_ns_per_particle=bound, results=str(tmp_path),
        narrowed={"width": "8:256", "n_blocks": "1:8"},
    )  # fmt: skip
    config.check()
    oracle = make_oracle(config, n_inputs=12)
    assert oracle.cost_bound == ((12, float(bound)) if bound else None)
    hp = keras_tuner.HyperParameters()
    declare(hp, config.search_space())
    oracle.update_space(hp)
    return [oracle.populate_space(str(k))["values"] for k in range(n)]


def test_no_configuration_above_the_bound_is_drawn(tmp_path):
    free = _draws(tmp_path / "a", 0)
    assert sum(not within(v, 12, 3_000) for v in free) >= 5  # the bound matters here
    bounded = _draws(tmp_path / "b", 3_000)
    assert all(within(v, 12, 3_000) for v in bounded)
    assert len({(v["width"], v["n_blocks"]) for v in bounded}) > 5


def test_the_retrain_never_takes_a_trial_above_the_bound(tmp_path):
    study_dir = write_study(tmp_path, "s", ["COMPLETED"] * 8)
    config = StudyConfig(study="s", results=str(tmp_path), trials=8)
    best, why = chosen_trial(config)
    assert why in ("the search's best trial", "the largest network within") or why.startswith(
        "the largest network within "
    )
    best_ns = cost.estimated_c_ns(best.flops_per_particle)
    config.max_ns_per_particle = int(best_ns) - 1  # the best is just above the bound
    chosen, why = chosen_trial(config)
    assert chosen.trial_id != best.trial_id
    assert why.endswith(f"among the trials under max_ns_per_particle {int(best_ns) - 1}")
    assert chosen_trial(config, chosen.trial_id)[1] == (
        f"chosen by hand (retrain --trial {chosen.trial_id})"
    )
    assert cost.estimated_c_ns(chosen.flops_per_particle) <= config.max_ns_per_particle
    with pytest.raises(ConfigError, match="above --max-ns-per-particle"):
        choose_trial(config, best.trial_id)
    assert study_dir.exists()


def test_a_bound_with_an_optuna_tuner_is_refused():
    with pytest.raises(ConfigError, match="not yet with tuner tpe"):
        StudyConfig(tuner="tpe", max_ns_per_particle=5_000).check()
