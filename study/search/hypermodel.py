"""The study's keras-tuner HyperModel: it declares the search space; the networks are
built in each trial's process."""

from __future__ import annotations

from dataclasses import dataclass, field

from study.space import SPACE, Param, declare
from study.training.network import build_network


@dataclass
class AcceptanceHyperModel:
    """Search space + builder; `as_keras_tuner()` gives the keras_tuner.HyperModel."""

    n_inputs: int
    space: dict[str, Param] = field(default_factory=lambda: dict(SPACE))

    def build(self, hp):
        values = declare(hp, self.space)
        return build_network(
            self.n_inputs, values["width"], values["n_blocks"], values["activation"], values["l2"]
        )

    def as_keras_tuner(self):
        """The keras_tuner.HyperModel the study's tuner holds: it declares the space only.

        keras-tuner builds the hypermodel in its own process to discover the space;
        the networks themselves are built in each trial's process (study/search/trial_process.py),
        so a trial's model too large for memory fails that trial, not the study.
        """
        import keras_tuner

        outer = self

        class _HyperModel(keras_tuner.HyperModel):
            def declare_hyperparameters(self, hp):
                declare(hp, outer.space)

            def build(self, hp):
                declare(hp, outer.space)
                return None

        return _HyperModel(name="acceptance")
