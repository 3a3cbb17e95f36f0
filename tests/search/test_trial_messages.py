"""The trial process talks to the study process in dataclasses, one a kind
(study/search/trial_messages.py); the tuner keeps what they say in a TrialOutcome."""

from __future__ import annotations

import pickle

import pytest

from study.search import trial_process
from study.search.outcome import TrialOutcome
from study.search.trial_messages import Diverged, Done, Epoch, Raised, Started
from study.search.trial_process import TrialCrashed, run_trial_process
from study.search.trial_spec import TrialSpec
from study.training.history import EpochRecord, TrainingResult

VALUES = {"n_blocks": 1, "width": 8, "activation": "tanh", "l2": 0.0, "optimizer": "adam",
          "learning_rate": 1e-2, "fine_tune_factor": 0.1, "batch_size": 256}  # fmt: skip
SCHEDULE = {"patience_1": 1, "patience_2": 1, "max_epochs_1": 2, "max_epochs_2": 2}


def _spec(data, **changes) -> TrialSpec:
    record = dict(
        trial_id="0", data=str(data), values=VALUES, seed=1, train_rows=1_000,
        validation_rows=400, sample_seed=2, deadline=None, rung=None, tensorboard=None,
        schedule=SCHEDULE,
    )  # fmt: skip
    return TrialSpec(**{**record, **changes})


def test_every_message_crosses_the_pipe_whole():
    record = EpochRecord(3, 2, 1e-3, 0.5, 0.4, 1.5)
    result = TrainingResult(0.4, [], 2, 2, 2, 3, 6.0, 1000.0)
    for message in (
        Started(parameters=97, training_rows=1_000, validation_rows=400, data_seconds=0.5,
                build_seconds=0.1),
        Epoch(record, 0.4), Done(result), Diverged("loss is nan"), Raised("Traceback ..."),
    ):  # fmt: skip
        assert pickle.loads(pickle.dumps(message)) == message


def test_the_outcome_keeps_what_the_started_message_says():
    outcome = TrialOutcome()
    assert outcome.phase == 1 and outcome.parameters is None and outcome.seconds() >= 0
    outcome.started(Started(97, 1_000, 400, 0.5, 0.1))
    assert (outcome.parameters, outcome.rows, outcome.validation_rows) == (97, 1_000, 400)
    assert (outcome.data_seconds, outcome.build_seconds) == (0.5, 0.1)
    outcome.history.append(EpochRecord(0, 2, 1e-3, 0.5, 0.4, 1.5))
    assert outcome.phase == 2


def test_a_trial_process_sends_started_epochs_and_its_result(tiny_dataset):
    started, epochs = [], []
    result = run_trial_process(
        _spec(tiny_dataset), lambda record, best: epochs.append((record, best)), started.append
    )
    trial_process.discard_prestarted()
    [message] = started
    assert isinstance(message, Started) and message.parameters > 0
    assert (message.training_rows, message.validation_rows) == (1_000, 400)
    assert message.data_seconds >= 0 and message.build_seconds >= 0
    assert result.history == [record for record, _ in epochs] and 2 <= len(epochs) <= 4
    assert epochs[-1][1] == min(r.val_bce for r, _ in epochs) == result.objective


def test_a_trial_process_that_raises_is_a_crash_with_its_traceback(tiny_dataset, tmp_path):
    with pytest.raises(TrialCrashed, match="Traceback") as caught:
        run_trial_process(_spec(tmp_path / "no-data"), lambda record, best: None)
    trial_process.discard_prestarted()
    assert "no-data" in str(caught.value)
