"""The network's shape, the one place its layers, parameters and FLOPs are counted.

The residual acceptance network (study/training/network.py) is Dense(width) on the
inputs, `n_blocks` residual Dense(width, width) blocks, and Dense(1): its dense layers
are (n_inputs, width), n_blocks x (width, width) and (width, 1). Everything that counts
parameters (the trials' reports) or FLOPs (the cost estimate, the C export's record)
counts them here, without building the network.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    n_inputs: int
    width: int
    n_blocks: int

    @classmethod
    def of(cls, n_inputs: int, values: dict) -> Shape:
        """The shape of a trial's hyperparameter values (width, n_blocks)."""
        return cls(int(n_inputs), int(values["width"]), int(values["n_blocks"]))

    @classmethod
    def from_parameters(cls, parameters: int, width: int, n_blocks: int) -> Shape | None:
        """The shape whose parameter count is `parameters` (None if there is none)."""
        inputs = (parameters - n_blocks * (width + 1) * width - width - 1) // width - 1
        shape = cls(inputs, width, n_blocks) if inputs > 0 else None
        return shape if shape is not None and shape.parameters == parameters else None

    def dense_layers(self) -> list[tuple[int, int]]:
        """(inputs, outputs) of each Dense layer, in order."""
        return [
            (self.n_inputs, self.width),
            *[(self.width, self.width)] * self.n_blocks,
            (self.width, 1),
        ]

    @property
    def parameters(self) -> int:
        return sum((i + 1) * o for i, o in self.dense_layers())

    @property
    def flops_per_particle(self) -> int:
        """2 x the multiply-adds of the Dense layers."""
        return 2 * sum(i * o for i, o in self.dense_layers())
