"""What analysis.py computes and plots.py draws, one dataclass a figure's data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectiveSeries:
    """Every trial in id order: its objective (None where not completed), its best value
    if it was pruned, and the best objective so far after it."""

    trial_id: list[str]
    objective: list[float | None]
    pruned: list[float | None]
    best_so_far: list[float | None]


@dataclass(frozen=True)
class Importances:
    """Hyperparameter importances (summing to 1, largest first), or none and why."""

    values: dict[str, float]
    note: str


@dataclass(frozen=True)
class CostFront:
    """Completed trials as (id, estimated C ns a particle, objective), and the ids of
    their Pareto front by increasing cost."""

    points: list[tuple[str, float, float]]
    front: list[str]


@dataclass(frozen=True)
class Panel:
    """One hyperparameter's panel: each completed trial's value (a choice's position,
    jittered) against its objective."""

    name: str
    kind: str  # the space's: "choice", "int", "float"
    x: list[float]
    y: list[float]
    categories: list[str] | None = None  # a choice's values, in position order
    log: bool = False  # a range sampled logarithmically


@dataclass(frozen=True)
class Curve:
    """One trial's validation cross-entropy by global epoch, with its phase switch."""

    label: str
    epoch: list[float]
    val_bce: list[float]
    switch_epoch: int | None
