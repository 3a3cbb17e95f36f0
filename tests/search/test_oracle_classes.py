"""study/search/oracles.py: one declared class per tuner and role, complete when made, its
overrides in the documented order, one lock wrapper that a raising call releases."""

from __future__ import annotations

import ast
import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import keras_tuner
import pytest

from study.budget import Budget
from study.config import KERAS_TUNERS, TUNERS, StudyConfig
from study.search import chief, distributed, loop, oracles
from study.search.chief import ChiefMixin
from study.search.cost_bound import CostBoundOracle
from study.search.kt_compat import ObjectiveCheck
from study.search.optuna_oracle import OptunaOracle
from study.search.recovery import RecoveringOracle
from study.space import SPACE, declare

PACKAGE = Path(__file__).resolve().parents[2] / "study"


def _classes_built_at_run_time(source: str) -> list[int]:
    """Lines of `source` calling type() with three arguments (a class made at run time)."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "type"
        and len(node.args) == 3
    ]


def test_no_class_is_built_at_run_time():
    assert _classes_built_at_run_time('C = type("C", (A, B), {})\nn = type(x).__name__') == [1]
    built = [
        f"{p.relative_to(PACKAGE)}:{line}"
        for p in sorted(PACKAGE.rglob("*.py"))
        for line in _classes_built_at_run_time(p.read_text())
    ]
    assert built == []


def test_keras_tuners_lock_wrapper_is_used_nowhere():
    theirs = re.compile(r"keras_tuner\s*\.\s*synchronized|import[^\n]*\bsynchronized\b")
    found = [
        f"{p.relative_to(PACKAGE)}:{k + 1}"
        for p in sorted(PACKAGE.rglob("*.py"))
        for k, line in enumerate(p.read_text().splitlines())
        if theirs.search(line)
    ]
    assert found == []


def _config(tmp_path, tuner: str, **more) -> StudyConfig:
    """(Not checked: gp's check asks for torch, which only its sampling needs.)"""
    return StudyConfig(tuner=tuner, results=str(tmp_path), trials=7, **more)


def _chief_role(local=True):
    return distributed.Role("chief", "127.0.0.1", 0, handover_s=3.5, local=local)


@pytest.mark.parametrize("tuner", TUNERS)
@pytest.mark.parametrize("role", ["single", "worker", "chief"])
def test_each_tuner_and_role_gets_its_declared_class(tmp_path, tuner, role):
    roles = {"single": None, "worker": distributed.Role("worker"), "chief": _chief_role()}
    made = oracles.make_oracle(_config(tmp_path, tuner), roles[role], n_inputs=12)
    single, chief_class = oracles.ORACLES[tuner]
    assert type(made) is (chief_class if role == "chief" else single)
    assert type(made).__module__ in ("study.search.oracles", "study.search.optuna_oracle")
    mro = type(made).__mro__
    order = [ChiefMixin, CostBoundOracle, RecoveringOracle, ObjectiveCheck, keras_tuner.Oracle]
    present = [c for c in order if c in mro]
    assert [mro.index(c) for c in present] == sorted(mro.index(c) for c in present)
    assert (ChiefMixin in mro) == (role == "chief")
    assert (CostBoundOracle in mro) == (tuner in KERAS_TUNERS)  # Optuna's take no bound


def _definers(cls: type, name: str) -> list[str]:
    """The classes of `cls`'s MRO that define method `name`, the first to run first."""
    return [c.__name__ for c in cls.__mro__ if name in vars(c)]


def test_the_overrides_run_in_the_documented_order():
    assert _definers(oracles.ChiefRandomOracle, "create_trial") == [
        "ChiefMixin", "RecoveringOracle", "Oracle",
    ]  # fmt: skip
    assert _definers(oracles.ChiefRandomOracle, "populate_space") == [
        "CostBoundOracle", "RandomSearchOracle", "Oracle",
    ]  # fmt: skip
    assert _definers(oracles.ChiefOptunaOracle, "end_trial") == [
        "ChiefMixin", "OptunaOracle", "RecoveringOracle", "Oracle",
    ]  # fmt: skip
    assert _definers(oracles.ChiefOptunaOracle, "update_trial") == [
        "ChiefMixin", "OptunaOracle", "Oracle",
    ]  # fmt: skip
    assert _definers(oracles.HyperbandOracle, "end_trial") == ["RecoveringOracle", "Oracle"]
    assert _definers(oracles.BayesianOracle, "checks_objective") == [
        "RecoveringOracle", "ObjectiveCheck",
    ]  # fmt: skip


def test_the_docstring_lists_every_class_with_its_bases():
    listed = dict(re.findall(r"^    (\w+Oracle)\(([\w, ]+)\)", oracles.__doc__, re.MULTILINE))
    declared = {c.__name__: c for pair in oracles.ORACLES.values() for c in pair}
    assert sorted(listed) == sorted(declared)
    for name, cls in declared.items():
        assert listed[name] == ", ".join(b.__name__ for b in cls.__bases__)


def test_an_oracle_is_complete_when_made(tmp_path):
    def stop():
        return None

    config = _config(tmp_path, "hyperband", max_ns_per_particle=4_000)
    config.study_dir.mkdir(parents=True)
    made = oracles.make_oracle(config, _chief_role(), n_inputs=12, budget_stop=stop)
    assert made.cost_bound == (12, 4_000.0) and made.max_trials == 7
    assert made.handover_s == 3.5 and made.budget_stop is stop and made.verbose == 0
    _with_space(made, tmp_path)
    made.create_trial("w1")  # the event log, named at construction, is written to
    assert [e.get("event") for e in _events(config.study_dir / chief.EVENTS)] == ["start"]
    remote = oracles.make_oracle(config, _chief_role(local=False), n_inputs=12, budget_stop=stop)
    assert remote.budget_stop is None  # a cluster's chief keeps no time budget
    assert oracles.make_oracle(_config(tmp_path, "random"), n_inputs=12).cost_bound is None
    with pytest.raises(ValueError, match="needs the network's inputs"):
        oracles.make_oracle(config)
    both = _config(tmp_path, "tpe", objectives="val_bce,cost")
    optuna_oracle = oracles.make_oracle(both, n_inputs=9)
    assert optuna_oracle.cost_inputs == 9 and optuna_oracle.objectives == ["val_bce", "cost"]


def _with_space(oracle, tmp_path) -> None:
    """What the tuner gives an oracle: its project directory and the search space."""
    oracle._set_project_dir(str(tmp_path), "tuner")
    space = keras_tuner.HyperParameters()
    declare(space, SPACE)
    oracle.update_space(space)


def _events(path: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_chiefs_budget_stop_asks_the_tuner_after_saving_the_time_spent():
    saved = []
    budget = SimpleNamespace(total_s=60.0, save=lambda: saved.append(1))
    tuner = SimpleNamespace(budget=budget, budget_stop=lambda: "no further trial fits")
    assert chief.budget_stop(tuner) == "no further trial fits" and saved == [1]
    assert chief.budget_stop(SimpleNamespace(budget=None)) is None
    budget.total_s = None  # --trials alone ends the search
    assert chief.budget_stop(tuner) is None and saved == [1]


def test_the_parallel_chiefs_oracle_asks_its_tuners_time_budget(tmp_path):
    config = StudyConfig(tuner="random", results=str(tmp_path), trials=3)
    config.study_dir.mkdir(parents=True)
    budget = Budget(60.0, start=time.monotonic() - 120)  # spent twice over
    budget.retrain = False
    budget.attach(config.study_dir)
    role = distributed.Role("chief", "127.0.0.1", 0, worker_id="chief", local=True)
    tuner = loop.make_tuner(config, 12, role, budget, {"test": 100})
    assert type(tuner.oracle) is oracles.ChiefRandomOracle
    assert tuner.oracle.create_trial("local0").status == "STOPPED"
    assert "no further trial" in tuner.oracle.budget_spent
    assert (config.study_dir / "budget.json").exists()  # the time spent saved first


def _from_another_thread(call) -> str:
    """Run `call` in another thread: "done", or "blocked" if it waits on the lock."""
    out = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    thread.join(10)
    return "done" if out else "blocked"


@pytest.mark.parametrize("cls", [oracles.RandomOracle, OptunaOracle])
def test_a_raising_call_releases_the_oracles_lock(tmp_path, cls):
    """The study's overrides (RecoveringOracle.end_trial, OptunaOracle.update_trial) take
    the lock through kt_compat.synchronized: keras-tuner's kept it after a raise."""
    made = cls(objective=oracles.OBJECTIVE, max_trials=5, seed=1, max_consecutive_failed_trials=1)
    made.verbose = 0
    _with_space(made, tmp_path)
    if cls is OptunaOracle:
        with pytest.raises(KeyError):
            made.update_trial("unknown", {"val_bce": 0.5})
        assert _from_another_thread(lambda: made.create_trial("w1")) == "done"
    trial = made.create_trial("tuner0")
    trial.status = "FAILED"
    with pytest.raises(RuntimeError, match="consecutive failures"):
        made.end_trial(trial)  # the failure stop, raised through RecoveringOracle.end_trial
    assert made.trials[trial.trial_id].status == "FAILED" and "tuner0" not in made.ongoing_trials
    assert _from_another_thread(lambda: made.create_trial("w2")) == "done"
