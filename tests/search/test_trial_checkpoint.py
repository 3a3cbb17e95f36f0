"""A trial keeps its last epoch's weights whatever ended it: a deadline too, so that the
final fit's guard can compare with them (a trial cut by the budget was once chosen and its
weights were nowhere)."""

import time

import numpy as np

from study.best.recipe import trial_weights
from study.search.trial_process import _rung_saver
from study.search.trial_spec import RungSpec
from study.training import fit
from study.training.phase_logic import RunLimits

VALUES = {"n_blocks": 1, "width": 8, "activation": "tanh", "l2": 0.0, "optimizer": "adam",
          "learning_rate": 1e-2, "fine_tune_factor": 0.1, "batch_size": 64}  # fmt: skip


def data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (rng.random((n, 1)) < 1 / (1 + np.exp(-x[:, :1]))).astype(np.float32)
    return x, y


def trained(tmp_path, deadline):
    begin = fit.start(VALUES, 3, 0, patience_1=50, patience_2=50, max_epochs_1=50,
                      max_epochs_2=50)  # fmt: skip
    begin.schedule.run_within(RunLimits(deadline=deadline))
    save = _rung_saver(RungSpec(str(tmp_path / "checkpoint")))
    result = fit.fit(VALUES, begin, data(512, 1), data(256, 2), on_checkpoint=save)
    return begin, result


def test_a_trial_cut_by_its_deadline_keeps_its_weights(tmp_path):
    begin, result = trained(tmp_path, deadline=time.monotonic() + 1.0)
    assert begin.schedule.state.out_of_time
    assert len(result.history) < 100  # cut long before its caps
    kept = trial_weights(tmp_path)
    assert kept is not None
    assert [w.shape for w in kept] == [w.shape for w in begin.model.get_weights()]


def test_a_trial_running_on_keeps_nothing_until_its_end(tmp_path):
    """Without a deadline nothing is saved before phase 2 ends (no per-epoch cost)."""
    begin = fit.start(VALUES, 3, 0, patience_1=1, patience_2=1, max_epochs_1=2, max_epochs_2=2)
    saved = []
    inner = _rung_saver(RungSpec(str(tmp_path / "checkpoint")))

    def save(model, schedule, history, best):
        before = (tmp_path / "checkpoint").exists()
        inner(model, schedule, history, best)
        saved.append(not before and (tmp_path / "checkpoint").exists())

    fit.fit(VALUES, begin, data(256, 1), data(128, 2), on_checkpoint=save)
    assert saved[:-1] == [False] * (len(saved) - 1) and saved[-1]
