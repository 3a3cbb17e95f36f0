"""The one door to keras-tuner's private surface.

Resume, state repair and the distributed chief need parts of keras-tuner that are
not its public API: its engine's Trial and hyperparameter classes, its JSON writer,
its gRPC service, a few private attributes and methods of its oracles (`_retry_queue`,
`_run_times`, `_seed_state`, `_record_values`, `_save_trial`, `_get_oracle_fname`,
`_project_dir`, `_check_objective_found`, overridden through `ObjectiveCheck`) and the
text of its consecutive-failures stop (`is_failure_stop`). Only this module touches them
(tests/test_layout.py fails on any private keras-tuner name used elsewhere), and
`check()` verifies at the start of every study that the installed keras-tuner still
has each of them, so that a release that moves one fails with one line naming the
version the study needs, not silently in the middle of a resume.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from importlib import metadata

from study.errors import ConfigError

REQUIRED = "keras-tuner>=1.4.7,<1.5"  # the range the tests run on (pyproject.toml says the same)
_MODULES = {
    "keras_tuner.src.engine.trial": ("Trial", "TrialStatus"),
    "keras_tuner.src.engine.metrics_tracking": ("MetricsTracker",),
    "keras_tuner.src.engine.hyperparameters": ("Int", "Float", "Choice", "Boolean", "Fixed"),
    "keras_tuner.src.engine.tuner_utils": ("convert_hyperparams_to_hparams",),
    "keras_tuner.src.utils": ("save_json",),
    "keras_tuner.src.distribute.oracle_client": ("TIMEOUT", "OracleClient"),
    "keras_tuner.src.distribute.oracle_chief": ("OracleServicer",),
    "keras_tuner.src.protos": ("get_proto", "get_service", "get_service_grpc"),
    "keras_tuner.src.engine.oracle": ("LOCKS", "THREADS"),
}
_ORACLE_ATTRIBUTES = (
    "_retry_queue", "_run_times", "_seed_state", "_record_values", "_save_trial",
    "_get_oracle_fname", "_project_dir", "_check_objective_found",
)  # fmt: skip
_checked = False


def check() -> None:
    """Raise ConfigError if the installed keras-tuner lacks a name this module uses."""
    global _checked
    if _checked:
        return
    import importlib

    import keras_tuner

    version = metadata.version("keras-tuner")
    missing = []
    for module_name, names in _MODULES.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing.append(module_name)
            continue
        missing += [f"{module_name}.{n}" for n in names if not hasattr(module, n)]
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_bce", "min"), max_trials=1
    )
    missing += [f"Oracle.{a}" for a in _ORACLE_ATTRIBUTES if a not in dir(oracle)]  # unevaluated
    if missing:
        raise ConfigError(
            f"keras-tuner {version} lacks {', '.join(missing)}, which resume and the "
            f"distributed chief use; the study needs {REQUIRED} (pip install '{REQUIRED}')"
        )
    _checked = True


# -- keras-tuner's engine classes ----------------------------------------------------------
def trial_module():
    from keras_tuner.src.engine import trial

    return trial


def Trial(*args, **kwargs):  # noqa: N802  (keras-tuner's class)
    return trial_module().Trial(*args, **kwargs)


def load_trial(path: str):
    return trial_module().Trial.load(path)


def kt_status():
    """keras-tuner's TrialStatus (its gRPC conversion needs its own members)."""
    return trial_module().TrialStatus


def metrics_tracker():
    from keras_tuner.src.engine import metrics_tracking

    return metrics_tracking.MetricsTracker()


def hyperparameter_classes():
    from keras_tuner.src.engine import hyperparameters as hp

    return hp


def convert_hyperparams_to_hparams(hp, hparams_api):
    from keras_tuner.src.engine import tuner_utils

    return tuner_utils.convert_hyperparams_to_hparams(hp, hparams_api)


# -- the oracles' private state ------------------------------------------------------------
def retry_queue(oracle) -> list:
    """The oracle's queue of trial ids to run again (the live list; the last pops first)."""
    return oracle._retry_queue


def set_retry_queue(oracle, trial_ids: list) -> None:
    oracle._retry_queue = list(trial_ids)


def mark_run(oracle, trial_id: str, times: int = 1) -> None:
    """Tell the oracle `trial_id` has been run `times` times (its retry count)."""
    oracle._run_times[trial_id] = times


def record_values(oracle, trial) -> None:
    """Make the oracle remember `trial`'s values as tried (no duplicate is drawn)."""
    oracle._record_values(trial)


def set_seed_state(oracle, value: int) -> None:
    oracle._seed_state = value


def save_trial(oracle, trial) -> None:
    """Write `trial`'s trial.json now (keras-tuner's oracle writes it at its own times)."""
    oracle._save_trial(trial)


def oracle_file(oracle) -> str:
    """The path of the oracle's oracle.json."""
    return oracle._get_oracle_fname()


def project_dir(oracle) -> str:
    """The oracle's project directory (trial_*/ lie in it)."""
    return oracle._project_dir


class ObjectiveCheck:
    """Mixin (before keras-tuner's oracle): its private check that reported metrics hold
    the objective, asked first of the public hook `checks_objective(metrics)`."""

    def checks_objective(self, metrics) -> bool:
        return True

    def _check_objective_found(self, metrics):
        if self.checks_objective(metrics):
            super()._check_objective_found(metrics)


def is_failure_stop(err: BaseException) -> bool:
    """Whether `err` is keras-tuner's stop after too many consecutive failed trials (a
    RuntimeError it tells apart by its text alone)."""
    return isinstance(err, RuntimeError) and "consecutive failures" in str(err)


@contextlib.contextmanager
def oracle_locked(oracle):
    """Hold the lock keras-tuner's `@synchronized` oracle methods take (create_trial,
    update_trial, end_trial, run in the chief's gRPC threads), to read the oracle's maps."""
    from keras_tuner.src.engine import oracle as oracle_module

    with oracle_module.LOCKS[oracle]:
        yield


def synchronized(method):
    """keras-tuner's `@synchronized`, but the oracle's lock is released when `method`
    raises: keras-tuner's own wrapper leaves it held (and the owning thread recorded), so
    one bad call (an unknown trial id, the consecutive-failure stop) hung every later one.
    It takes the same lock keras-tuner's wrappers below it take, which then see the lock
    held by their own thread and run without taking it again."""
    from keras_tuner.src.engine import oracle as oracle_module

    @functools.wraps(method)
    def wrapped(oracle, *args, **kwargs):
        thread = threading.current_thread().name
        if oracle_module.THREADS[oracle] == thread:  # inside another synchronized call
            return method(oracle, *args, **kwargs)
        with oracle_module.LOCKS[oracle]:
            oracle_module.THREADS[oracle] = thread
            try:
                return method(oracle, *args, **kwargs)
            finally:
                oracle_module.THREADS[oracle] = None

    return wrapped


# -- its JSON writer and gRPC service ---------------------------------------------------------
def install_json_writer(write_text) -> None:
    """Route keras-tuner's one JSON writer through `write_text(path, text)` (idempotent)."""
    import json

    from keras_tuner.src import utils

    if getattr(utils.save_json, "atomic", False):
        return

    def save_json(path, obj):
        text = json.dumps(obj)
        write_text(path, text)
        return text

    save_json.atomic = True
    utils.save_json = save_json


def set_client_timeout(seconds: float) -> None:
    """How long each call of a worker's OracleClient waits for the chief."""
    from keras_tuner.src.distribute import oracle_client

    oracle_client.TIMEOUT = seconds


def set_client_channel(client, channel) -> None:
    """Make keras-tuner's OracleClient call the chief through `channel` (its own is a
    plaintext channel without the study's secret)."""
    client.stub = protos().get_service_grpc().OracleStub(channel)


def protos():
    from keras_tuner.src import protos as module

    return module


def oracle_servicer_class() -> type:
    from keras_tuner.src.distribute import oracle_chief

    return oracle_chief.OracleServicer
