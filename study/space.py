"""The search space: `Param`, the default `SPACE`, its narrowing from the command line,
and its one conversion each to keras-tuner (`declare`) and to Optuna (`optuna_distributions`).

The network of the original notebook (study/training/network.py) is one point of the space.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

OPTIMIZERS = ("adam", "rmsprop", "nadam", "adamw", "sgd")


@dataclass(frozen=True)
class Param:
    """One hyperparameter: an int or float range (log scale or not), a choice, or a fixed value."""

    kind: str  # "int", "float", "choice" or "fixed"
    low: float | None = None
    high: float | None = None
    log: bool = False
    values: tuple = ()
    default: Any = None

    def check(self, name: str) -> None:
        if self.kind in ("int", "float"):
            if self.low is None or self.high is None or not self.low <= self.high:
                raise ValueError(
                    f"hyperparameter {name}: need low <= high, got {self.low}, {self.high}"
                )
            if self.log and self.low <= 0:
                raise ValueError(
                    f"hyperparameter {name}: a log range needs low > 0, got {self.low}"
                )
        elif self.kind == "choice":
            if not self.values:
                raise ValueError(f"hyperparameter {name}: a choice needs at least one value")
        elif self.kind != "fixed":
            raise ValueError(f"hyperparameter {name}: unknown kind {self.kind!r}")


# The default search space; the notebook's values are the defaults.
SPACE: dict[str, Param] = {
    "n_blocks": Param("int", 1, 16, default=10),
    "width": Param("int", 16, 512, log=True, default=128),
    "activation": Param("choice", values=("tanh", "relu", "gelu", "swish"), default="tanh"),
    "optimizer": Param("choice", values=("adam", "rmsprop", "nadam"), default="rmsprop"),
    # fine-tune rate = learning_rate x fine_tune_factor >= 1.5e-5: no trial crawls at ~1e-6
    "learning_rate": Param("float", 3e-4, 3e-2, log=True, default=1e-2),
    "fine_tune_factor": Param("float", 0.05, 0.5, log=True, default=0.1),
    "batch_size": Param("choice", values=(512, 1024, 2048, 4096), default=2048),
    "l2": Param("float", 1e-6, 1e-2, log=True, default=1e-3),
}


def _coerce(name: str, base: Param, text: str) -> Any:
    """Turn a command-line string into a value of the hyperparameter's type."""
    sample = base.default if base.default is not None else (base.values or (base.low,))[0]
    try:
        if isinstance(sample, bool):
            return text.lower() in ("1", "true", "yes")
        if isinstance(sample, int) and base.kind != "float":
            return int(text)
        if isinstance(sample, float) or base.kind == "float":
            return float(text)
    except ValueError:
        raise ValueError(
            f"hyperparameter {name}: {text!r} is not a {type(sample).__name__}"
        ) from None
    return text


def fix(space: dict[str, Param], name: str, value: Any) -> dict[str, Param]:
    """Replace a hyperparameter's range by one value (also outside the default range)."""
    if name not in space:
        raise ValueError(f"unknown hyperparameter {name!r} (known: {', '.join(space)})")
    if isinstance(value, str):
        value = _coerce(name, space[name], value)
    if name == "optimizer" and value not in OPTIMIZERS:
        raise ValueError(f"hyperparameter optimizer: {value!r} is not one of {OPTIMIZERS}")
    return {**space, name: Param("fixed", values=(value,), default=value)}


def narrow(space: dict[str, Param], name: str, spec: str) -> dict[str, Param]:
    """Narrow a range (`low:high`) or a choice (`a,b,c`) of the space."""
    if name not in space:
        raise ValueError(f"unknown hyperparameter {name!r} (known: {', '.join(space)})")
    base = space[name]
    if base.kind in ("int", "float"):
        try:
            low, high = (_coerce(name, base, t) for t in spec.split(":"))
        except ValueError:
            raise ValueError(f"hyperparameter {name}: expected low:high, got {spec!r}") from None
        default = min(max(base.default, low), high)
        new = replace(base, low=low, high=high, default=default)
    elif base.kind == "choice":
        values = tuple(_coerce(name, base, t) for t in spec.split(",") if t)
        default = base.default if base.default in values else values[0]
        new = replace(base, values=values, default=default)
    else:
        raise ValueError(f"hyperparameter {name} is fixed; it cannot be narrowed")
    new.check(name)
    return {**space, name: new}


def space_to_dict(space: dict[str, Param]) -> dict[str, dict]:
    return {
        name: {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(p).items()}
        for name, p in space.items()
    }


def space_from_dict(raw: dict[str, dict]) -> dict[str, Param]:
    space = {}
    for name, fields in raw.items():
        fields = dict(fields)
        fields["values"] = tuple(fields.get("values", ()))
        space[name] = Param(**fields)
        space[name].check(name)
    return space


def searched(space: dict[str, Param]) -> dict[str, Param]:
    """The hyperparameters that take more than one value (fixed ones and single choices dropped)."""
    return {
        name: p
        for name, p in space.items()
        if (p.kind == "choice" and len(p.values) > 1)
        or (p.kind in ("int", "float") and p.low < p.high)
    }


def optuna_distributions(space: dict[str, Param]) -> dict:
    """Optuna distributions of the searched hyperparameters (Int, Float with log, Categorical)."""
    import optuna.distributions as od

    out = {}
    for name, p in searched(space).items():
        if p.kind == "int":
            out[name] = od.IntDistribution(int(p.low), int(p.high), log=p.log)
        elif p.kind == "float":
            out[name] = od.FloatDistribution(float(p.low), float(p.high), log=p.log)
        else:
            out[name] = od.CategoricalDistribution(list(p.values))
    return out


def declare(hp, space: dict[str, Param]) -> dict[str, Any]:
    """Register every hyperparameter of `space` on keras-tuner `HyperParameters`; return values."""
    values = {}
    for name, p in space.items():
        if p.kind == "int":
            values[name] = hp.Int(
                name,
                int(p.low),
                int(p.high),
                sampling="log" if p.log else "linear",
                default=p.default,
            )
        elif p.kind == "float":
            values[name] = hp.Float(
                name, p.low, p.high, sampling="log" if p.log else "linear", default=p.default
            )
        elif p.kind == "choice":
            values[name] = hp.Choice(name, list(p.values), default=p.default)
        else:
            values[name] = hp.Fixed(name, p.values[0])
    return values
