"""One trial's training in a child process.

TensorFlow keeps ~8 MB per trained model that `clear_session()` does not free
(tensorflow/tensorflow#61791), so a study of many trials in one process grows
without bound. Each trial therefore trains in a fresh `spawn`ed process that
reads the data itself and streams its epochs back through a pipe; the tuner's
process stays flat, and a trial that crashes or is killed (out of memory, a
segfault) becomes a failed trial instead of the end of the study. The child
ignores SIGINT and SIGTERM (the study process decides, see study/signals.py) and
dies with the study process.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable
from dataclasses import asdict

from study import faults, signals
from study.schedule import EpochRecord, TrainingResult


class TrialCrashed(RuntimeError):
    """The trial's process died or raised: the message says how."""


class TrialDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def _quiet_import() -> None:
    """Import the backend and start its device with stderr closed.

    Its start-up lines (absl, CUDA probing) would otherwise repeat for every trial.
    """
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras

        keras.ops.zeros(1)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _tensorboard_callbacks(board: dict | None) -> list:
    """Keras's TensorBoard callback, with the trial's hyperparameters written as keras-tuner
    writes them (`hparams` summaries, for TensorBoard's HParams dashboard)."""
    if not board:
        return []
    import keras
    import keras_tuner
    import tensorflow as tf
    from keras_tuner.src.engine.tuner_utils import convert_hyperparams_to_hparams
    from tensorboard.plugins.hparams import api as hparams_api

    hp = keras_tuner.HyperParameters.from_config(board["hyperparameters"])
    with tf.summary.create_file_writer(board["log_dir"]).as_default():
        hparams_api.hparams(
            convert_hyperparams_to_hparams(hp, hparams_api), trial_id=board["trial_id"]
        )
    return [keras.callbacks.TensorBoard(board["log_dir"], write_graph=False)]


def _child(conn, spec: dict) -> None:
    """Entry point of the child process: build, train, report."""
    signals.ignore_in_child()
    try:
        _quiet_import()
        import keras

        from study.data.dataset import open_dataset
        from study.model import build_from_values, make_optimizer
        from study.schedule import NonFiniteLoss, TwoPhaseSchedule, train_two_phase

        dataset = open_dataset(spec["data"], check_values=False)
        train, validation = dataset.train.to_numpy(), dataset.validation.to_numpy()
        values = spec["values"]
        keras.utils.set_random_seed(spec["seed"])
        model = build_from_values(train[0].shape[1], values)
        conn.send(("start", model.count_params(), len(train[0])))
        schedule = TwoPhaseSchedule.from_values(values, **spec["schedule"])

        def on_epoch(record, best):
            faults.point("child-epoch")
            conn.send(("epoch", asdict(record), best))

        try:
            result = train_two_phase(
                model,
                lambda lr: make_optimizer(values["optimizer"], lr),
                schedule,
                train,
                validation,
                int(values["batch_size"]),
                on_epoch,
                callbacks=_tensorboard_callbacks(spec.get("tensorboard")),
            )
        except NonFiniteLoss as err:
            conn.send(("diverged", str(err)))
            return
        result_dict = asdict(result)
        result_dict.pop("history")
        conn.send(("done", result_dict))
    except Exception:  # reported to the parent, which fails the trial
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def run_trial_process(
    spec: dict,
    on_epoch: Callable[[EpochRecord, float], None],
    on_start: Callable[[int, int], None] = lambda parameters, rows: None,
) -> TrainingResult:
    """Train one trial in a child process; `on_epoch(record, best)` runs here per epoch,
    `on_start(parameters, training_rows)` once the network is built. An exception
    raised by `on_epoch` kills the child and propagates (a pruned trial)."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(child, spec), daemon=True)
    process.start()
    signals.watch_child(process.pid)
    child.close()
    history: list[EpochRecord] = []
    try:
        while True:
            try:
                message = parent.recv()
            except EOFError:
                process.join()
                raise TrialCrashed(f"trial process died (exit code {process.exitcode})") from None
            kind = message[0]
            if kind == "start":
                on_start(message[1], message[2])
            elif kind == "epoch":
                record = EpochRecord(**message[1])
                history.append(record)
                on_epoch(record, message[2])
            elif kind == "diverged":
                raise TrialDiverged(message[1])
            elif kind == "error":
                raise TrialCrashed(message[1].strip())
            elif kind == "done":
                return TrainingResult(history=history, **message[1])
    finally:
        signals.watch_child(None)
        if process.is_alive():
            process.kill()  # it ignores SIGTERM and SIGINT
        process.join()
        parent.close()
