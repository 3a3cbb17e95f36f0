"""The Keras backend a study trains with: TensorFlow (the default) or JAX.

Keras fixes its backend when it is first imported, from `KERAS_BACKEND`; `select`
sets that variable before anything imports Keras, and the trial processes inherit
it. Under JAX every training step is XLA-compiled (`schedule.train_two_phase`):
bench/bench_train.py --backends measured the trial loop 1.1-2.2x TensorFlow's on two
cores. The export stays a TensorFlow SavedModel: under JAX it is written from the
saved `model.keras` by a child process on the TensorFlow backend (study/best/export.py);
where TensorFlow is not installed at all (`has_tensorflow`), nothing imports it, the
SavedModel is not written and `run_study.py export` writes it later elsewhere.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from study.errors import ConfigError

BACKENDS = ("tensorflow", "jax")
VERBOSE = "STUDY_VERBOSE"  # set by --verbose; the trial processes inherit it
GPU_MEMORY = "STUDY_GPU_MEMORY_MB"  # set by --parallel on GPUs: TensorFlow's share of one
_started = False


def select(name: str) -> None:
    """Make `name` the Keras backend of this process and of the processes it starts."""
    if name not in BACKENDS:
        raise ConfigError(f"backend: expected one of {', '.join(BACKENDS)}, found {name!r}")
    if not (has_tensorflow() if name == "tensorflow" else importlib.util.find_spec(name)):
        extra = (
            ' (pip install "jax[cpu]", or -e ".[jax]")' if name == "jax"
            else "; --backend jax trains without it (the SavedModel is then written later by "
            "`run_study.py export`)"
        )  # fmt: skip
        raise ConfigError(f"backend {name}: the {name} package is not installed{extra}")
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != name:
            raise ConfigError(
                f"backend {name}: Keras was already imported with the "
                f"{keras.backend.backend()} backend in this process"
            )
    os.environ["KERAS_BACKEND"] = name


def start(name: str) -> None:
    """`select(name)`, then import the backend quietly (`quiet_import`)."""
    select(name)
    quiet_import()


def quiet_import() -> None:
    """Import Keras (and TensorFlow, which the export needs) and start the device with
    stderr closed, unless --verbose.

    TensorFlow's C++ start-up lines (`All log messages before absl::InitializeLog()`,
    oneDNN, CUDA probing, `failed call to cuInit`) are written before any log level
    applies; they would start the terminal of every study and every trial. Python-side
    INFO lines of TensorFlow (`Assets written to ...`) are raised to WARNING too.
    """
    global _started
    if _started:
        return
    _started = True
    verbose = bool(os.environ.get(VERBOSE))
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # what comes later: errors only
        import logging

        for name in ("tensorflow", "absl", "jax._src.xla_bridge"):
            logging.getLogger(name).setLevel(logging.WARNING)
    saved, devnull = (None, None) if verbose else (os.dup(2), os.open(os.devnull, os.O_WRONLY))
    try:
        if saved is not None:
            os.dup2(devnull, 2)
        import keras

        backend = keras.backend.backend()
        if backend == "tensorflow":
            _limit_gpu_memory()
        keras.ops.zeros(1)  # the device's start (CUDA probing) happens here
        if has_tensorflow():  # the export's SavedModel needs it; a JAX-only image has none
            import tensorflow as tf

            if backend != "tensorflow":
                tf.config.set_visible_devices([], "GPU")  # the GPU's memory is JAX's
            tf.zeros(1)
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def _limit_gpu_memory() -> None:
    """TensorFlow on a GPU shared by --parallel workers: a logical device of
    `STUDY_GPU_MEMORY_MB` MiB (JAX's share is XLA_PYTHON_CLIENT_MEM_FRACTION)."""
    memory_mb = os.environ.get(GPU_MEMORY)
    if not memory_mb:
        return
    import tensorflow as tf

    limit = [tf.config.LogicalDeviceConfiguration(memory_limit=int(memory_mb))]
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.set_logical_device_configuration(gpu, limit)


def has_tensorflow() -> bool:
    """Whether TensorFlow can be imported here (a GPU image often has JAX alone): the
    SavedModel is written only where it can; `run_study.py export` writes it later."""
    if "tensorflow" in sys.modules:
        return True
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):  # an import blocker, or a broken installation
        return False
