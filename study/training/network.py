"""The residual acceptance network, built from a trial's values, and its optimiser.

Dense(width, activation, L2 on the kernel) on the inputs, `n_blocks` residual
blocks x + Dense(width, activation, zero-initialised kernel)(x), Dense(1, sigmoid).
With 12 inputs, width 128 and 10 blocks (the notebook's) it has 166,913 parameters.
"""

from __future__ import annotations

from study.training.shape import Shape


def build_network(
    n_inputs: int, width: int, n_blocks: int, activation: str = "tanh", l2: float = 1e-3
):
    """The residual acceptance network (uncompiled)."""
    import keras

    inputs = keras.Input(shape=(n_inputs,), name="features")
    x = keras.layers.Dense(
        width,
        activation=activation,
        kernel_regularizer=keras.regularizers.L2(l2),
        name="input_dense",
    )(inputs)
    for k in range(n_blocks):
        residual = keras.layers.Dense(
            width, activation=activation, kernel_initializer="zeros", name=f"block_{k}"
        )(x)
        x = keras.layers.Add(name=f"add_{k}")([x, residual])
    outputs = keras.layers.Dense(1, activation="sigmoid", name="acceptance")(x)
    return keras.Model(inputs, outputs, name="acceptance")


def build_from_values(n_inputs: int, values: dict):
    """The network of one trial's hyperparameter values."""
    return build_network(
        n_inputs,
        int(values["width"]),
        int(values["n_blocks"]),
        values["activation"],
        float(values["l2"]),
    )


def make_optimizer(name: str, learning_rate: float, ema_momentum: float = 0.0, ema_every=None):
    """Keras's optimizer `name`; with `ema_momentum` > 0 it keeps a moving average of the
    weights and copies it into the model every `ema_every` steps (once an epoch)."""
    import keras

    classes = {
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "nadam": keras.optimizers.Nadam,
        "adamw": keras.optimizers.AdamW,
        "sgd": keras.optimizers.SGD,
    }
    if not ema_momentum:
        return classes[name](learning_rate=learning_rate)
    return classes[name](
        learning_rate=learning_rate,
        use_ema=True,
        ema_momentum=ema_momentum,
        ema_overwrite_frequency=ema_every,
    )


def count_parameters(n_inputs: int, width: int, n_blocks: int) -> int:
    """Parameters of the network, computed without building it (study/training/shape.py)."""
    return Shape(n_inputs, width, n_blocks).parameters
