"""A bound on the cost per particle (`--max-ns-per-particle`): no trial above it is sampled.

Mixed in front of keras-tuner's random, Bayesian and Hyperband oracles (every one the
study declares, study/search/oracles.py; no bound unless one is given): a drawn
configuration whose estimated compiled-C time (study/training/cost.py) is above the
bound is drawn again (it is recorded as tried, so it is not drawn twice), up to
`DRAWS` times; then the oracle stops the search, saying so. The retrain never
takes a trial above the bound either (study/best/retrain.py).
"""

from __future__ import annotations

import logging

from study.training import cost

log = logging.getLogger(__name__)
DRAWS = 200


def within(values: dict, n_inputs: int, max_ns: float) -> bool:
    """Whether the configuration `values` costs at most `max_ns` a particle (estimated)."""
    return cost.configuration_ns(values, n_inputs) <= max_ns


class CostBoundOracle:
    """Mixin (study/search/oracles.py declares where): `cost_bound=(n_inputs, max_ns)`, or
    None for no bound, given to the constructor with keras-tuner's own arguments."""

    def __init__(self, *, cost_bound: tuple[int, float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.cost_bound = cost_bound

    def populate_space(self, trial_id):
        if self.cost_bound is None:
            return super().populate_space(trial_id)
        n_inputs, max_ns = self.cost_bound
        for _ in range(DRAWS):
            result = super().populate_space(trial_id)
            values = result.get("values")
            if values is None or within(values, n_inputs, max_ns):
                return result
        log.warning(
            "no configuration under %.0f ns a particle in %d draws: the search stops "
            "(raise --max-ns-per-particle or narrow width and n_blocks)", max_ns, DRAWS,
        )  # fmt: skip
        return {"status": "STOPPED", "values": None}
