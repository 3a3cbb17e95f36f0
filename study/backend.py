"""The Keras backend a study trains with: TensorFlow (the default) or JAX.

Keras fixes its backend when it is first imported, from `KERAS_BACKEND`; `select`
sets that variable before anything imports Keras, and the trial processes inherit
it. Under JAX every training step is XLA-compiled (`schedule.train_two_phase`):
bench/bench_train.py --backends measured the trial loop 1.1-2.2x TensorFlow's on two
cores. The export stays a TensorFlow SavedModel: under JAX it is written from the
saved `model.keras` by a child process on the TensorFlow backend (study/best/export.py).
"""

from __future__ import annotations

import importlib.util
import os
import sys

from study.errors import ConfigError

BACKENDS = ("tensorflow", "jax")


def select(name: str) -> None:
    """Make `name` the Keras backend of this process and of the processes it starts."""
    if name not in BACKENDS:
        raise ConfigError(f"backend: expected one of {', '.join(BACKENDS)}, found {name!r}")
    if importlib.util.find_spec(name) is None:
        extra = ' (pip install "jax[cpu]", or -e ".[jax]")' if name == "jax" else ""
        raise ConfigError(f"backend {name}: the {name} package is not installed{extra}")
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != name:
            raise ConfigError(
                f"backend {name}: Keras was already imported with the "
                f"{keras.backend.backend()} backend in this process"
            )
    os.environ["KERAS_BACKEND"] = name
