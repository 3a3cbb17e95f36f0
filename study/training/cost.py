"""What a network costs per particle in the deployed C (study/best/c_source.py).

FLOPs are exact (2 x the multiply-adds of the Dense layers). The time is an estimate,
`NS_FIXED + NS_PER_FLOP x FLOPs` for the batch entry, fitted to bench/bench_inference.py's
timings of six networks (928 to 8.4 M FLOPs) on this project's 2-core machine while it
was loaded (2026-11-30). Idle, it overestimates the notebook network's batch time by 39 %
and underestimates gelu networks, whose C calls libm's erff, by ~4x (bench/README.md).
"""

from __future__ import annotations

from study.training.shape import Shape

NS_FIXED = 1_300.0  # the quantile transform of 12 features and the calls
NS_PER_FLOP = 0.022  # ~45 GFLOP/s in the batch path's register-blocked layers


def flops_per_particle(n_inputs: int, width: int, n_blocks: int) -> int:
    """2 x multiply-adds: the input layer, the residual blocks and the output (shape.py)."""
    return Shape(n_inputs, width, n_blocks).flops_per_particle


def estimated_c_ns(flops: float) -> float:
    """Estimated compiled-C nanoseconds per particle (batch entry) of `flops`."""
    return NS_FIXED + NS_PER_FLOP * float(flops)


def configuration_ns(values: dict, n_inputs: int) -> float:
    """Estimated compiled-C ns a particle of the hyperparameters `values` (width, n_blocks)."""
    return estimated_c_ns(Shape.of(n_inputs, values).flops_per_particle)


def pareto_front(points: list[tuple[str, float, float]]) -> list[str]:
    """Ids of the non-dominated (id, cost, objective) points, by increasing cost: none
    other is at most as costly and at most as bad, and strictly better in one."""
    front, best = [], float("inf")
    for point_id, _, objective in sorted(points, key=lambda p: (p[1], p[2])):
        if objective < best:
            front.append(point_id)
            best = objective
    return front
