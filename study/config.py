"""StudyConfig: every knob of a study, saved beside its results and checked on resume."""

from __future__ import annotations

import importlib.util
import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar

from study.errors import ConfigError
from study.names import c_name_problem, study_name_problem

KERAS_TUNERS = ("random", "bayesian", "hyperband")  # keras-tuner's oracles
TUNERS = (*KERAS_TUNERS, "tpe", "cmaes", "gp")  # then Optuna's samplers
OBJECTIVES = ("val_bce", "val_bce,cost")  # cost: estimated compiled-C ns a particle
MULTI_OBJECTIVE_TUNERS = ("tpe", "gp")  # Optuna's samplers with multi-objective support
PRUNERS = ("none", "median", "hyperband")
RETRAIN_STARTS = ("trial", "scratch")  # where the final fit starts (study/best/recipe.py)
RETRAIN_RECIPES = ("auto", "full-data", "trial")  # its optimizer, rates and batch
NEEDS = {"cmaes": "cmaes", "gp": "torch"}  # the package an Optuna sampler needs


def startup_trials(trials: int) -> int:
    """Random trials before a model-based sampler (TPE, Bayesian) takes over: 10 of 50."""
    return min(10, max(3, trials // 5))


def _accepted(hint) -> tuple[type, ...]:
    """The types a field of type `hint` takes: each member of a union (NoneType for None),
    a generic's own class (dict for dict[str, int]); a float field takes an int too."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    members = typing.get_args(hint) if union else (hint,)
    accepted = tuple(typing.get_origin(t) or t for t in members)
    return (*accepted, int) if float in accepted else accepted


def _has_type(value, hint) -> bool:
    """Whether `value` fits a field of type `hint` (bool is not an int here, nor a float)."""
    accepted = _accepted(hint)
    if isinstance(value, bool):
        return bool in accepted
    return isinstance(value, accepted)


# A field's `metadata` says what may change it once the study has started; a field without
# may not change (the data is compared by its fingerprint instead of its path).
RESUME = {"resume": True}  # a resume may change it (study.json records the new value)
RETRAIN = {"resume": True, "retrain": True}  # a resume, and the flags of the retrain command


@dataclass
class StudyConfig:
    study: str = "default"  # name: results go to <results>/<study>/
    data: str | None = field(default=None, metadata=RESUME)  # prepared dataset directory; None: the
    # embedded default sample
    results: str = field(default="results", metadata=RESUME)  # output root
    tuner: str = "hyperband"  # oracle: random | bayesian | hyperband (keras-tuner) | tpe | cmaes
    # | gp; hyperband: bench_search's best (median excess 0.55 x random's at equal wall time)
    prune: str = "none"  # pruner of the Optuna tuners: none | median | hyperband
    trials: int = field(default=50, metadata=RESUME)  # trials that reach an end (completed or
    # failed), in total
    seed: int = 0  # seeds the oracle and every trial's initialisation and shuffling
    max_epochs: int = 10  # cap on the epochs of each phase of a trial
    patience_1: int = 3  # phase 1 stops after this many epochs without improvement
    patience_2: int = 3  # phase 2 likewise (in the trials)
    max_failures: int = field(default=3, metadata=RESUME)  # consecutive failed trials that stop the
    # study
    fixed: dict = field(default_factory=dict)  # hyperparameter -> value, replaces its range
    narrowed: dict = field(default_factory=dict)  # hyperparameter -> "low:high" or "a,b,c"
    retrain_max_epochs: int = field(default=100, metadata=RETRAIN)  # safety cap on each phase of
    # the retrain (early stopping ends it)
    retrain_patience: int = field(default=5, metadata=RETRAIN)  # the retrain's phase-1 patience
    # (the notebook's)
    retrain_patience_2: int = field(default=3, metadata=RETRAIN)  # its phase-2 patience: phase 2 of
    # the full-data recipe is best at its 2nd-3rd epoch and worse after it in every measured fit
    # (bench/README.md)
    retrain_from: str = field(default="scratch", metadata=RETRAIN)  # scratch: the final fit starts
    # from a fresh seeded initialisation; trial: from the chosen trial's weights
    # (trials/<id>/checkpoint), faster but worse on the default sample (study/best/recipe.py)
    retrain_recipe: str = field(default="auto", metadata=RETRAIN)  # auto: the final fit's
    # optimizer, rates and batch by the rule of study/best/recipe.py (the trial's own, or
    # full-data's by the split's size); full-data or trial: that one
    label_smoothing: float = 0.01  # phase 1's label smoothing, in the trials and the final fit
    default_rows: int = field(default=2_500_000, metadata=RESUME)  # rows of the generated default
    # sample (train gets half)
    search_rows: int = 100_000  # training rows of each trial, a seeded subsample (0: all);
    # trials validate on half as many validation rows; the retrain uses both whole splits
    time_budget: str | None = field(default="30m", metadata=RESUME)  # wall time of search +
    # retrain + validation + export + report ("45s", "30m", "2h", "1h30m"); None: no budget,
    # --trials alone ends the search
    trial_timeout: str | None = field(default=None, metadata=RESUME)  # a trial process silent
    # this long is killed and FAILED ("10m"); None: 10 x the slowest completed trial (at least
    # 2 min; 30 min before any)
    tensorboard: bool = field(default=False, metadata=RESUME)  # per-trial TensorBoard logs in
    # trials/<id>/tensorboard
    backend: str = field(default="tensorflow", metadata=RETRAIN)  # Keras backend of the trials and
    # the retrain: tensorflow | jax
    max_ns_per_particle: int = 0  # bound on the estimated compiled-C ns a particle (0: none):
    # no trial above it is sampled or retrained (keras-tuner's random, bayesian, hyperband)
    objectives: str = "val_bce"  # val_bce | val_bce,cost: Optuna's multi-objective search
    # (tpe, gp) of validation cross-entropy and estimated compiled-C ns a particle
    c_name: str = field(default="acceptance", metadata=RESUME)  # the exported C function (scikinC's
    # entry; NAME_batch too)
    c_march: str = field(default="baseline", metadata=RETRAIN)  # the CPUs the C library is
    # compiled for: baseline (x86-64-v2, armv8-a on aarch64: every grid node), x86-64-v3,
    # x86-64-v4, armv8-a or native
    validation_bins: dict = field(default_factory=dict, metadata=RETRAIN)  # the kinematic-bin
    # validation's spec (study/binning.py); {}: LHCb's eta and phi in momentum slices per species
    RESUMABLE: ClassVar[tuple[str, ...]]  # what a resume may change: set below

    def check(self) -> None:
        if self.tuner not in TUNERS:
            raise ConfigError(f"tuner: expected one of {', '.join(TUNERS)}, found {self.tuner!r}")
        if self.prune not in PRUNERS:
            raise ConfigError(f"prune: expected one of {', '.join(PRUNERS)}, found {self.prune!r}")
        if self.prune != "none" and self.tuner in KERAS_TUNERS:
            raise ConfigError(
                f"prune: pruning needs an Optuna tuner (tpe, cmaes, gp), found tuner {self.tuner}"
            )
        package = NEEDS.get(self.tuner)
        if package and importlib.util.find_spec(package) is None:
            raise ConfigError(
                f"tuner {self.tuner}: Optuna's sampler needs the {package} package "
                f"(pip install {package})"
            )
        for name in (
            "trials", "max_epochs", "patience_1", "patience_2", "retrain_patience",
            "retrain_patience_2", "max_failures", "default_rows",
        ):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}: expected a positive integer, found {value!r}")
        if not isinstance(self.search_rows, int) or self.search_rows < 0:
            raise ConfigError(
                f"search_rows: expected 0 (all) or a positive integer, found {self.search_rows!r}"
            )
        from study.backend import BACKENDS
        from study.binning import spec_of

        if self.backend not in BACKENDS:
            raise ConfigError(f"backend: expected {' or '.join(BACKENDS)}, found {self.backend!r}")
        spec_of(self.validation_bins)  # raises ConfigError
        self._check_deployment()
        self._check_durations()
        self._check_final_fit()
        if study_name_problem(self.study):  # study/names.py
            raise ConfigError(f"study: {study_name_problem(self.study)}, found {self.study!r}")
        self.search_space()  # raises on unknown or ill-typed hyperparameters
        if self.tensorboard and importlib.util.find_spec("tensorboard") is None:
            raise ConfigError(
                "tensorboard: the tensorboard package is not installed "
                '(pip install -e ".[tensorboard]")'
            )
        from study.backend import has_tensorflow

        if self.tensorboard and not has_tensorflow():  # Keras's callback writes through it
            raise ConfigError("tensorboard: the per-trial logs need TensorFlow, not installed here")

    def _check_durations(self) -> None:
        """The time budget and the trial timeout: durations such as 45s, 30m, 2h."""
        from study.durations import parse_duration

        if self.time_budget is not None:
            parse_duration(self.time_budget)  # raises ConfigError
        if self.trial_timeout is not None:
            parse_duration(self.trial_timeout, "trial_timeout")

    def _check_final_fit(self) -> None:
        """Where the final fit starts, its recipe, and the label smoothing."""
        if self.retrain_from not in RETRAIN_STARTS:
            raise ConfigError(
                f"retrain_from: expected {' or '.join(RETRAIN_STARTS)}, found {self.retrain_from!r}"
            )
        if self.retrain_recipe not in RETRAIN_RECIPES:
            raise ConfigError(
                f"retrain_recipe: expected {' or '.join(RETRAIN_RECIPES)}, "
                f"found {self.retrain_recipe!r}"
            )
        if not 0.0 <= self.label_smoothing < 0.5:
            raise ConfigError(
                f"label_smoothing: expected a number in [0, 0.5), found {self.label_smoothing!r}"
            )

    def _check_deployment(self) -> None:
        """The cost bound and the C function's name."""
        if not isinstance(self.max_ns_per_particle, int) or self.max_ns_per_particle < 0:
            raise ConfigError(
                f"max_ns_per_particle: expected 0 (no bound) or a positive integer, "
                f"found {self.max_ns_per_particle!r}"
            )
        if self.max_ns_per_particle and self.tuner not in KERAS_TUNERS:
            raise ConfigError(
                f"max_ns_per_particle: a cost bound works with {', '.join(KERAS_TUNERS)}, "
                f"not yet with tuner {self.tuner}"
            )
        if self.objectives not in OBJECTIVES:
            raise ConfigError(
                f"objectives: expected one of {', '.join(OBJECTIVES)}, found {self.objectives!r}"
            )
        if self.multi_objective and self.tuner not in MULTI_OBJECTIVE_TUNERS:
            raise ConfigError(
                f"objectives {self.objectives}: a multi-objective search needs an Optuna "
                f"tuner ({', '.join(MULTI_OBJECTIVE_TUNERS)}), found tuner {self.tuner}"
            )
        if self.multi_objective and self.prune != "none":
            raise ConfigError(
                f"objectives {self.objectives}: Optuna prunes single-objective studies only "
                f"(found prune {self.prune})"
            )
        problem = c_name_problem(self.c_name)
        if problem:  # study/names.py: no keyword, libc name or generated symbol
            raise ConfigError(f"c_name: {problem}, found {self.c_name!r}")
        from study.names import MARCHES

        if self.c_march not in MARCHES:
            raise ConfigError(
                f"c_march: expected one of {', '.join(MARCHES)}, found {self.c_march!r}"
            )

    def search_space(self) -> dict:
        """The default space with `narrowed` and `fixed` applied."""
        from study.space import SPACE, fix, narrow

        space = dict(SPACE)
        try:
            for name, spec in self.narrowed.items():
                space = narrow(space, name, str(spec))
            for name, value in self.fixed.items():
                space = fix(space, name, value)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        return space

    @property
    def multi_objective(self) -> bool:
        return self.objectives != "val_bce"

    @property
    def study_dir(self) -> Path:
        return Path(self.results) / self.study

    @property
    def data_dir(self) -> Path:
        if self.data:
            return Path(self.data)
        # one directory per size and seed: a study never reuses a sample of another size
        return Path(self.results) / "data" / f"default-{self.default_rows}-seed{self.seed}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> StudyConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(
                f"{source}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        hints = typing.get_type_hints(cls)  # the fields' types, whatever they are
        for f in fields(cls):
            if f.name in raw and not _has_type(raw[f.name], hints[f.name]):
                raise ConfigError(f"{source}: {f.name}: expected {f.type}, found {raw[f.name]!r}")
        return cls(**raw)

    @classmethod
    def from_file(cls, path: Path) -> StudyConfig:
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: file not found") from None
        except ValueError as err:
            raise ConfigError(f"{path}: not valid JSON ({err})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a JSON object of StudyConfig fields")
        return cls.from_dict(raw, str(path))

    def differences(self, other: StudyConfig) -> list[str]:
        """Fields that differ from `other`, except those a resume may change."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [k for k in mine if k not in self.RESUMABLE and mine[k] != theirs[k]]


def _marked(key: str) -> tuple[str, ...]:
    return tuple(f.name for f in fields(StudyConfig) if f.metadata.get(key))


StudyConfig.RESUMABLE = _marked("resume")
# What the retrain command's flags may change: within RESUMABLE (RETRAIN marks both), the
# final fit's settings and the export's (tests/test_config.py checks it against the parser)
RETRAINABLE = _marked("retrain")
