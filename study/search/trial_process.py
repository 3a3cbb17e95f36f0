"""One trial's training in a child process.

TensorFlow keeps ~8 MB per trained model that `clear_session()` does not free
(tensorflow/tensorflow#61791), so a study of many trials in one process grows
without bound. Each trial therefore trains in a fresh `spawn`ed process that
reads the data itself and streams its epochs back through a pipe; the tuner's
process stays flat, and a trial that crashes or is killed (out of memory, a
segfault) becomes a failed trial instead of the end of the study. The child
ignores SIGINT and SIGTERM (the study process decides, see study/signals.py) and
dies with the study process.

Importing the backend costs a new process ~5 s, so the next trial's process is
started while the current trial trains (`prestart`): it imports the backend and
waits for its trial's spec, at the lowest CPU priority until then, so that it
only uses what the training trial leaves idle. A study of short trials then
pays most of the import once.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import replace

from study import faults, signals
from study.backend import quiet_import
from study.errors import TrainingFailed
from study.search.trial_messages import Diverged, Done, Epoch, Raised, Started
from study.search.trial_spec import BoardSpec, RungSpec, TrialSpec
from study.status import TrialStatus
from study.store.checkpoint import RUNG_KEY, Checkpoint
from study.training.history import EpochRecord, TrainingResult


class TrialCrashed(TrainingFailed):
    """The trial's process died or raised: the message says how."""


class TrialDiverged(TrainingFailed):
    """The loss became NaN or infinite."""


class TrialSilent(TrialCrashed):
    """The trial's process sent nothing for longer than its timeout: killed."""


def _tensorboard_callbacks(board: BoardSpec | None) -> list:
    """Keras's TensorBoard callback, with the trial's hyperparameters written as keras-tuner
    writes them (`hparams` summaries, for TensorBoard's HParams dashboard)."""
    if not board:
        return []
    import keras
    import keras_tuner
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams_api

    from study.search import kt_compat

    hp = keras_tuner.HyperParameters.from_config(board.hyperparameters)
    with tf.summary.create_file_writer(board.log_dir).as_default():
        hparams_api.hparams(
            kt_compat.convert_hyperparams_to_hparams(hp, hparams_api), trial_id=board.trial_id
        )
    return [keras.callbacks.TensorBoard(board.log_dir, write_graph=False)]


def _continued(rung: RungSpec | None):
    """(model, schedule, history, phase-best weights) of the trial a Hyperband rung continues,
    or None for a trial that starts afresh."""
    if rung is None or rung.parent is None:
        return None
    return Checkpoint(rung.parent).load(key=RUNG_KEY)  # None (none left): start afresh


def _rung_saver(rung: RungSpec | None):
    """Saves the trial's checkpoint at its last epoch, whatever ended it (its rung, phase 2's
    patience or cap, the deadline): for a Hyperband rung that continues it, for the final
    fit that continues from the chosen trial, and for the guard that compares the final fit
    with the trial's own weights (study/best/recipe.py, retrain.py)."""
    if not rung:
        return None
    checkpoint = Checkpoint(rung.save)

    def save(model, schedule, history, best_weights):
        ended = schedule.state.phase == 2 and schedule.phase_done()
        if schedule.rung_done() or ended or schedule.state.out_of_time:
            checkpoint.save(model, schedule, history, best_weights, RUNG_KEY)

    return save


def _child(conn) -> None:
    """Entry point of the child process: import the backend, wait for the spec, train."""
    signals.ignore_in_child()
    try:
        os.nice(19)  # importing ahead must not slow the trial that trains meanwhile
        quiet_import()  # study/backend.py: no TensorFlow start-up lines
        sent = conn.recv()
        if sent is None:  # the study needs no more trials
            return
        spec = TrialSpec.from_dict(sent)
        with contextlib.suppress(OSError):  # back to normal priority where allowed (root)
            os.setpriority(os.PRIO_PROCESS, 0, 0)
        from study.data.dataset import open_dataset
        from study.training import fit
        from study.training.phase_logic import NonFiniteLoss, RunLimits

        begin = time.perf_counter()
        dataset = open_dataset(spec.data, check_values=False)
        seed = spec.sample_seed  # one subsample for every trial of the study
        train = dataset.train.sample(spec.train_rows, seed)
        validation = dataset.validation.sample(spec.validation_rows, seed)
        loaded = time.perf_counter()
        values, rung = spec.values, spec.rung
        start = fit.start(values, train[0].shape[1], spec.seed, _continued(rung), **spec.schedule)
        conn.send(
            Started(
                parameters=start.model.count_params(),
                training_rows=len(train[0]),
                validation_rows=len(validation[0]),
                data_seconds=loaded - begin,
                build_seconds=time.perf_counter() - loaded,
            )
        )
        # time.monotonic() is system-wide on Linux: the parent's deadline holds here
        rung_epochs = rung.epochs if rung else None
        start.schedule.run_within(RunLimits(deadline=spec.deadline, max_total_epochs=rung_epochs))

        def on_epoch(record, best):
            faults.point("child-epoch", spec.trial_id)
            conn.send(Epoch(record, best))

        try:
            result = fit.fit(
                values, start, train, validation, on_epoch, _rung_saver(rung),
                _tensorboard_callbacks(spec.tensorboard),
            )  # fmt: skip
        except NonFiniteLoss as err:
            conn.send(Diverged(str(err)))
            return
        conn.send(Done(replace(result, history=[])))  # the parent holds the epochs
    except Exception:  # reported to the parent, which fails the trial
        conn.send(Raised(traceback.format_exc()))
    finally:
        conn.close()


class _Started:
    """A trial process started ahead of its trial: importing, then waiting for a spec."""

    def __init__(self):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_child, args=(child,), daemon=True)
        self.process.start()
        child.close()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()  # it ignores SIGTERM and SIGINT
        self.process.join()
        self.conn.close()


DEADLINE_GRACE_S = 60.0  # an epoch under way at the deadline may end this much after it
SILENCE_FLOOR_S = 120.0  # the derived trial timeout: at least this
SILENCE_FIRST_S = 1800.0  # the derived trial timeout before any trial has ended
SILENCE_MAX_S = 7 * 86400.0  # at most a week (a pipe's poll takes no more)


def silence_limit(trial_timeout: str | None, reports: list) -> float:
    """How long a trial's process may send nothing before it is killed: `trial_timeout`
    (--trial-timeout), else 10 x the slowest completed or pruned trial (at least
    SILENCE_FLOOR_S), SILENCE_FIRST_S before any."""
    from study.durations import parse_duration

    if trial_timeout is not None:
        return min(parse_duration(trial_timeout), SILENCE_MAX_S)
    ended = (TrialStatus.COMPLETED, TrialStatus.PRUNED)
    # a record's seconds are a number (TrialReport.from_dict); a trial of none or of more
    # than 30 years says nothing of the next one's
    seconds = [r.seconds for r in reports if r.status in ended and 0 < r.seconds < 1e9]
    if not seconds:
        return SILENCE_FIRST_S
    return min(max(SILENCE_FLOOR_S, 10 * max(seconds)), SILENCE_MAX_S)


def _wait_s(silence_s: float | None, deadline: float | None) -> float | None:
    """How long to wait for the child's next message (None: without a limit)."""
    if deadline is None:
        return silence_s
    left = max(0.0, deadline - time.monotonic()) + DEADLINE_GRACE_S
    return left if silence_s is None else min(silence_s, left)


_ahead: _Started | None = None
PRESTART = True  # start the next trial's process while a trial trains


def prestart() -> None:
    """Start the next trial's process now, so that its imports overlap this trial."""
    global _ahead
    if PRESTART and (_ahead is None or not _ahead.process.is_alive()):
        if _ahead is None:
            atexit.register(discard_prestarted)
        _ahead = _Started()


def discard_prestarted() -> None:
    """Kill the process started for a trial that will not come (end of the study)."""
    global _ahead
    if _ahead is not None:
        _ahead.kill()
        _ahead = None


def _take() -> _Started:
    global _ahead
    started = _ahead if _ahead is not None and _ahead.process.is_alive() else _Started()
    if _ahead is not None and started is not _ahead:
        _ahead.kill()
    _ahead = None
    return started


def run_trial_process(
    spec: TrialSpec,
    on_epoch: Callable[[EpochRecord, float], None],
    on_start: Callable[[Started], None] = lambda started: None,
    silence_s: float | None = None,
) -> TrainingResult:
    """Train one trial in a child process; `on_epoch(record, best)` runs here per epoch,
    `on_start(started)` once the network is built (a Started: its parameters, rows, and
    seconds of data loading and building). An exception raised by `on_epoch` kills
    the child and propagates (a pruned trial). A child that sends nothing for
    `silence_s` seconds (None: no limit), or past `spec.deadline` by more than
    DEADLINE_GRACE_S, is killed: TrialSilent."""
    started = _take()
    parent, process = started.conn, started.process
    parent.send(spec.to_dict())
    signals.watch_child(process.pid)
    history: list[EpochRecord] = []
    try:
        while True:
            wait = _wait_s(silence_s, spec.deadline)
            if wait is not None and not parent.poll(wait):
                why = (
                    f"--trial-timeout {silence_s:.0f} s"
                    if wait == silence_s
                    else f"{DEADLINE_GRACE_S:.0f} s past the time budget's deadline"
                )
                raise TrialSilent(f"trial process sent nothing for {wait:.0f} s ({why}); killed")
            try:
                message = parent.recv()
            except EOFError:
                process.join()
                raise TrialCrashed(f"trial process died (exit code {process.exitcode})") from None
            match message:
                case Started():
                    on_start(message)
                    prestart()
                case Epoch(record=record, best=best):
                    history.append(record)
                    on_epoch(record, best)
                case Diverged(message=text):
                    raise TrialDiverged(text)
                case Raised(traceback=text):
                    raise TrialCrashed(text.strip())
                case Done(result=result):
                    return replace(result, history=history)
    finally:
        signals.watch_child(None)
        if process.is_alive():
            process.kill()  # it ignores SIGTERM and SIGINT
        process.join()
        parent.close()
