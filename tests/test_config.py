"""StudyConfig's fields: the types a config file may give them, read from the fields
themselves, and what a resume and the retrain command may change, read from their metadata."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field, fields

import pytest

from study.cli import build_parser
from study.config import RETRAINABLE, StudyConfig
from study.errors import ConfigError


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"trials": True}, "trials: expected int, found True"),  # bool is no int
        ({"label_smoothing": False}, "label_smoothing: expected float, found False"),
        ({"tensorboard": 1}, "tensorboard: expected bool, found 1"),
        ({"data": 3}, "data: expected str | None, found 3"),
        ({"fixed": []}, "fixed: expected dict, found []"),
        ({"trials": 2.0}, "trials: expected int, found 2.0"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_with_the_field_and_its_type(raw, error):
    with pytest.raises(ConfigError, match=f"^{re.escape(f'study.json: {error}')}$"):
        StudyConfig.from_dict(raw, "study.json")


def test_values_of_the_right_type_are_taken():
    config = StudyConfig.from_dict(
        {"data": None, "time_budget": "1h", "label_smoothing": 0, "tensorboard": True,
         "fixed": {"width": 8}, "trials": 7},
    )  # fmt: skip
    assert (config.data, config.time_budget, config.trials) == (None, "1h", 7)
    assert config.label_smoothing == 0  # an int is a float here
    assert config.tensorboard is True and config.fixed == {"width": 8}


@dataclass
class _Wider(StudyConfig):
    """A StudyConfig with fields of types it has none of yet: no table to extend."""

    ratios: list[float] = field(default_factory=list)
    limit: float | None = None
    names: tuple | None = None


def test_a_field_of_a_new_type_is_checked_without_a_table():
    wider = _Wider.from_dict({"ratios": [0.5], "limit": 3, "names": ("a",)})
    assert (wider.ratios, wider.limit, wider.names) == ([0.5], 3, ("a",))
    assert _Wider.from_dict({"limit": None}).limit is None
    for raw, expected in [
        ({"ratios": (0.5,)}, "list[float]"),
        ({"limit": "3"}, "float | None"),
        ({"limit": True}, "float | None"),
        ({"names": ["a"]}, "tuple | None"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(f"expected {expected}, found")):
            _Wider.from_dict(raw)


def test_what_a_resume_may_change_is_marked_on_the_fields():
    marked = {f.name for f in fields(StudyConfig) if f.metadata.get("resume")}
    assert set(StudyConfig.RESUMABLE) == marked
    assert {"trials", "time_budget", "retrain_patience", "c_march"} <= marked
    assert not {"study", "seed", "tuner", "patience_1", "fixed"} & marked  # the search's own
    old = StudyConfig()
    new = StudyConfig(trials=99, time_budget=None, retrain_patience=9, seed=4, tuner="random")
    assert old.differences(new) == ["tuner", "seed"]


def _retrain_parser() -> argparse.ArgumentParser:
    parser = build_parser("acceptance-study")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["retrain"]


def test_the_retrain_flags_are_what_a_resume_may_change_of_the_final_fit_and_export():
    """The retrain command changes only what a resume may change (RETRAINABLE is a subset of
    RESUMABLE), and its flags that name a StudyConfig field are exactly RETRAINABLE, less
    --study and --results, which find the study."""
    assert set(RETRAINABLE) < set(StudyConfig.RESUMABLE)
    names = {f.name for f in fields(StudyConfig)}
    flags = {a.dest for a in _retrain_parser()._actions if a.dest in names}
    assert flags - {"study", "results"} == set(RETRAINABLE)
    assert {"trials", "time_budget", "data"}.isdisjoint(RETRAINABLE)  # the search's, not its
