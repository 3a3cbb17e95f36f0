"""The trial spec (what a trial's process is told) and the seeds it carries."""

import pytest

from study import seeds
from study.search.trial_spec import BoardSpec, RungSpec, TrialSpec


def _spec(**changes) -> TrialSpec:
    record = dict(
        trial_id="07", data="/data/default", values={"n_blocks": 3, "width": 64},
        seed=seeds.trial_seed(2, "07"), train_rows=1000, validation_rows=500,
        sample_seed=seeds.sample_seed(2), deadline=None,
        rung=RungSpec("/r/trial_07/checkpoint", epochs=3),
        tensorboard=None, schedule={"patience_1": 3, "patience_2": 3},
    )  # fmt: skip
    record.update(changes)
    return TrialSpec(**record)


def test_a_spec_round_trips_through_its_dict():
    spec = _spec(deadline=1234.5)
    assert TrialSpec.from_dict(spec.to_dict()) == spec
    board = BoardSpec("/r/trials/07/tensorboard", "07", {"space": [], "values": {}})
    spec = _spec(rung=RungSpec("/r/07/checkpoint", parent="/r/03/checkpoint"), tensorboard=board)
    assert TrialSpec.from_dict(spec.to_dict()) == spec and spec.rung.epochs is None
    assert spec.to_dict()["rung"] == {"save": "/r/07/checkpoint", "epochs": None,
                                      "parent": "/r/03/checkpoint"}  # fmt: skip
    assert spec.to_dict()["seed"] == 2 * 100_003 + 7


def test_a_missing_or_unknown_spec_key_is_an_error_naming_it():
    record = _spec().to_dict()
    del record["sample_seed"]
    with pytest.raises(ValueError, match=r"^trial spec: missing sample_seed$"):
        TrialSpec.from_dict(record)
    record = {**_spec().to_dict(), "epochs": 3}
    with pytest.raises(ValueError, match=r"^trial spec: unknown epochs$"):
        TrialSpec.from_dict(record)


def test_the_seeds_of_a_study_derive_from_its_one_seed():
    assert seeds.oracle_seed(0) == 1  # keras-tuner treats 0 as no seed
    assert seeds.trial_seed(0, "12") == 12 and seeds.trial_seed(1, "0") == 100_003
    assert seeds.rebuilt_oracle_seed(1, 5) == 5001
    assert seeds.sampler_seed(1, 2) == 1_000_003 + 2 * 7_919
    assert seeds.sample_seed(4) == seeds.final_fit_seed(4) == 4


def test_a_trial_id_that_is_no_number_gets_no_seed():
    with pytest.raises(ValueError, match="trial id 'ab12': expected the trial's number"):
        seeds.trial_seed(0, "ab12")
