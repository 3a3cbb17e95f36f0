"""The two-phase decision logic, tested without training."""

import math

import numpy as np
import pytest

from study.training.phase_logic import (
    CONTINUE,
    STOP,
    SWITCH,
    NonFiniteLoss,
    RunLimits,
    ScheduleSettings,
    TwoPhaseSchedule,
)

# a schedule's patience and caps are always given (StudyConfig owns their values)
CAPS = {"patience_1": 5, "patience_2": 5, "max_epochs_1": 100, "max_epochs_2": 100}
LIMITS = {"deadline", "deadline_1", "phase_2_epochs", "max_total_epochs"}


def _schedule(**given) -> TwoPhaseSchedule:
    """A schedule of `given` settings, under `given` run limits (deadlines, a rung)."""
    limits = RunLimits(**{k: v for k, v in given.items() if k in LIMITS})
    settings = ScheduleSettings(**{**CAPS, **{k: v for k, v in given.items() if k not in LIMITS}})
    return TwoPhaseSchedule(settings, limits=limits)


def test_a_schedule_without_its_patience_or_caps_is_refused():
    with pytest.raises(TypeError, match="patience_1"):
        ScheduleSettings(learning_rate=1e-2, patience_2=5, max_epochs_1=10, max_epochs_2=10)


def replay(schedule, values):
    """Feed values until STOP; return the decisions and the phase of each epoch."""
    decisions, phases = [], []
    for v in values:
        phases.append(schedule.state.phase)
        decision, _ = schedule.update(v)
        decisions.append(decision)
        if decision == SWITCH:
            schedule.start_phase_2()
        if decision == STOP:
            break
    return decisions, phases


def test_switch_after_patience_then_stop():
    s = _schedule(learning_rate=1e-2, fine_tune_factor=0.1, patience_1=2, patience_2=3)
    values = [
        0.5,
        0.4,
        0.41,
        0.42,  # phase 1: best at epoch 1, two epochs without -> switch
        0.39,
        0.38,
        0.385,
        0.383,
        0.381,
    ]  # phase 2: best at 5, three without -> stop
    decisions, phases = replay(s, values)
    assert decisions == [CONTINUE] * 3 + [SWITCH] + [CONTINUE] * 4 + [STOP]
    assert phases == [1] * 4 + [2] * 5
    assert s.state.switch_epoch == 4 and s.state.epoch == 9
    assert s.state.best_epochs == {1: 1, 2: 5}
    assert s.state.best_overall == pytest.approx(0.38)


def test_rates_and_smoothing_per_phase():
    s = _schedule(learning_rate=3e-3, fine_tune_factor=0.1)
    assert (s.current_rate, s.label_smoothing) == (3e-3, 0.01)
    s.start_phase_2()
    assert s.current_rate == pytest.approx(3e-4) and s.label_smoothing == 0.0


def test_epoch_caps_end_each_phase():
    s = _schedule(learning_rate=1.0, patience_1=100, patience_2=100, max_epochs_1=3, max_epochs_2=2)
    decisions, phases = replay(s, np.linspace(1.0, 0.5, 10))
    assert decisions == [CONTINUE, CONTINUE, SWITCH, CONTINUE, STOP]
    assert phases == [1, 1, 1, 2, 2]


def test_phase_2_best_is_its_own_but_objective_is_overall():
    """Phase 2 may never beat phase 1; the objective is still the best of both."""
    s = _schedule(learning_rate=1.0, patience_1=1, patience_2=1)
    replay(s, [0.30, 0.31, 0.35, 0.36])
    assert s.state.best_epochs == {1: 0, 2: 2}
    assert s.state.best_overall == pytest.approx(0.30)


def test_min_delta():
    s = _schedule(learning_rate=1.0, patience_1=1, min_delta=0.01)
    assert s.update(0.5) == (CONTINUE, True)
    assert s.update(0.495) == (SWITCH, False)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_values_raise(bad):
    s = _schedule(learning_rate=1.0)
    with pytest.raises(NonFiniteLoss, match="val_bce is"):
        s.update(bad)


def test_each_phase_stops_on_its_own_patience_and_cap():
    s = _schedule(learning_rate=1.0, patience_1=2, patience_2=7, max_epochs_1=3, max_epochs_2=9)
    assert s.settings.stopping(1) == (2, 3) and s.settings.stopping(2) == (7, 9)
    assert s.phase_end() == 3  # Keras's `epochs` of phase 1 from epoch 0
    replay(s, [0.5, 0.4, 0.3])
    s.start_phase_2()
    assert s.phase_end() == 3 + 9
    s.update(0.2)
    assert s.phase_end() == 3 + 9  # the end stays where it is as the phase goes on


def test_the_settings_are_frozen_and_the_schedule_takes_no_stray_attribute():
    """Code that set the schedule's fields from outside (a deadline, a patience) fails loudly
    now: a run gives its limits (`run_within`), a resume its patiences (`retune`)."""
    import dataclasses

    s = _schedule(learning_rate=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.settings.patience_1 = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.limits.deadline = 3.0
    with pytest.raises(AttributeError):
        s.deadline = 3.0


def test_a_run_gives_its_limits_and_a_resume_its_patience():
    s = _schedule(learning_rate=1.0, patience_1=1)
    s.run_within(RunLimits(max_total_epochs=2))
    assert [s.update(v)[0] for v in (0.5, 0.4)] == [CONTINUE, STOP]  # the rung's end
    assert s.rung_done()
    s.run_within(RunLimits())  # the next rung continues the same training
    assert not s.rung_done()
    assert s.update(0.45) == (SWITCH, False)  # patience 1: phase 1 ends
    s.retune(patience_1=3)
    assert not s.phase_done() and s.settings.learning_rate == 1.0
    assert s.update(0.45) == (CONTINUE, False)


def test_a_checkpoint_keeps_the_settings_and_the_state_not_the_run_limits():
    import json

    s = _schedule(learning_rate=0.3, decay_2=0.5, patience_1=1, deadline=5.0)
    replay(s, [0.5, 0.6, 0.4])  # phase 1 switches at epoch 2; phase 2 best at epoch 2
    saved = json.loads(json.dumps(s.to_dict()))  # as state.json holds it
    back = TwoPhaseSchedule.from_dict(saved)
    assert back.settings == s.settings and back.state == s.state
    assert back.state.best_epochs == {1: 0, 2: 2}  # integer phases again
    assert back.limits == RunLimits()
    older = {**saved, "deadline": 5.0, "deadline_1": None, "phase_2_epochs": 4,
             "max_total_epochs": 3}  # fmt: skip
    assert TwoPhaseSchedule.from_dict(older).state == s.state  # a checkpoint of before
    assert TwoPhaseSchedule.from_dict(older).limits == RunLimits()


def _records(phases_values):
    from study.training.history import EpochRecord

    out = []
    for phase, values in phases_values:
        for v in values:
            out.append(EpochRecord(len(out), phase, 1e-3, v, v, 1.0))
    return out


def test_convergence_needs_both_phases_to_stop_before_their_last_epoch():
    from study.training.history import convergence

    stopped = _records([(1, [0.5, 0.4, 0.41, 0.42]), (2, [0.39, 0.38, 0.385, 0.386])])
    assert convergence(stopped) == {"converged": True, "reason": None}
    capped = _records([(1, [0.5, 0.4, 0.41]), (2, [0.39, 0.38, 0.37])])
    assert convergence(capped) == {
        "converged": False,
        "reason": "phase 2 was still improving at its last epoch (3)",
    }
    cut = _records([(1, [0.5, 0.4])])
    result = convergence(cut, out_of_time=True)
    assert not result["converged"]
    assert result["reason"] == (
        "phase 1 was still improving at its last epoch (2); phase 2 never ran; "
        "the time budget cut the training short"
    )


def test_deadline_stops_when_the_next_epoch_would_end_past_it():
    s = _schedule(learning_rate=1e-2, deadline=100.0)
    assert not s.time_is_up(now=89.0, epoch_seconds=10.0)
    assert s.time_is_up(now=91.0, epoch_seconds=10.0)
    assert s.state.out_of_time
    assert not _schedule(learning_rate=1e-2).time_is_up(now=1e9, epoch_seconds=1e9)


def test_phase_1_deadline_leaves_phase_2_its_time():
    s = _schedule(learning_rate=1e-2, deadline=100.0, deadline_1=70.0)
    assert s.time_is_up(now=65.0, epoch_seconds=10.0)  # phase 1 ends at its own deadline
    s.start_phase_2()
    assert not s.time_is_up(now=65.0, epoch_seconds=10.0)  # phase 2 runs on to the deadline
    assert s.time_left(now=85.0, epoch_seconds=10.0)
    assert s.time_is_up(now=95.0, epoch_seconds=10.0) and not s.time_left(95.0, 10.0)


def test_phase_1_keeps_phase_2_epochs_of_its_own_length_before_the_deadline():
    s = _schedule(learning_rate=1e-2, deadline=100.0, phase_2_epochs=4)
    assert not s.time_is_up(now=50.0, epoch_seconds=10.0)  # 50 + 10 + 4 x 10 = 100
    assert not s.state.out_of_time
    assert s.time_is_up(now=50.5, epoch_seconds=10.0) and s.state.out_of_time
    s.run_within(s.limits)  # a new run under the same limits: the cut is forgotten
    assert not s.state.out_of_time
    assert s.time_is_up(now=1.0, epoch_seconds=20.0)  # longer epochs: 1 + 20 + 4 x 20 > 100
    assert not s.time_is_up(now=0.0, epoch_seconds=20.0)
    s.start_phase_2()
    assert not s.time_is_up(now=85.0, epoch_seconds=10.0)  # phase 2 runs on to the deadline
    assert s.time_is_up(now=90.5, epoch_seconds=10.0)


def test_train_two_phase_is_a_plain_two_phase_keras_fit_epoch_by_epoch():
    """The study's training path adds nothing to the numbers: on the same data, seed and
    recipe, train_two_phase and two plain `model.fit` calls (EarlyStopping restoring the
    best weights, the second phase recompiled at the lower rate without smoothing) give
    the same validation cross-entropy at every epoch and the same predictions. (Measured
    also on 200,000 rows of the default sample, 10 x 100 gelu, batch 2048: 47 epochs,
    every val_bce and the test excess 0.01291 identical; issue 26.)"""
    import keras

    from study.testing.inspect import fit_from_values
    from study.training.network import build_from_values
    from study.training.phase_logic import LABEL_SMOOTHING_1

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 4)).astype("float32")
    y = (rng.random((3000, 1)) < 1 / (1 + np.exp(-2 * x[:, :1]))).astype("float32")
    train, validation = (x[:2000], y[:2000]), (x[2000:], y[2000:])
    values = dict(n_blocks=1, width=8, activation="gelu", optimizer="adam",
                  learning_rate=0.02, fine_tune_factor=0.1, batch_size=256, l2=1e-4)  # fmt: skip
    ours, result = fit_from_values(
        values, train, validation, seed=3, patience_1=1, patience_2=1, max_epochs_1=4,
        max_epochs_2=4,
    )  # fmt: skip
    keras.utils.set_random_seed(3)
    plain, history = build_from_values(4, values), []
    for rate, smoothing in ((0.02, LABEL_SMOOTHING_1), (0.002, 0.0)):
        plain.compile(
            optimizer=keras.optimizers.Adam(rate),
            loss=keras.losses.BinaryCrossentropy(label_smoothing=smoothing),
            metrics=[keras.metrics.BinaryCrossentropy(name="bce")],
        )
        stop = keras.callbacks.EarlyStopping("val_bce", patience=1, restore_best_weights=True)
        fitted = plain.fit(*train, batch_size=256, epochs=4, validation_data=validation,
                           validation_batch_size=8192, callbacks=[stop], verbose=0)  # fmt: skip
        history += fitted.history["val_bce"]
    assert [r.val_bce for r in result.history] == pytest.approx(history, rel=1e-6)
    assert len(history) >= 4
    np.testing.assert_allclose(ours.predict(x, verbose=0), plain.predict(x, verbose=0), atol=1e-6)
    steady = [r.seconds for i, r in enumerate(result.history) if i not in (0, result.switch_epoch)]
    assert result.rows_per_second == pytest.approx(2000 / float(np.median(steady)))


def test_the_rate_a_fit_reports_leaves_out_each_fit_calls_first_epoch():
    """The first epoch of a fit call traces and compiles (seconds, where a later one takes
    one): the rate is that of the median other epoch, from which a longer fit is estimated."""
    from study.training.history import EpochRecord
    from study.training.schedule import steady_rate

    seconds = [5.0, 1.0, 1.2, 4.0, 1.1]  # phase 1 from epoch 0, phase 2 from epoch 3
    records = [EpochRecord(i, 1 + (i >= 3), 0.01, 0.5, 0.5, s) for i, s in enumerate(seconds)]
    assert steady_rate(records, [0, 3], 0, 1100) == pytest.approx(1000.0)  # 1100 rows / 1.1 s
    assert steady_rate(records[3:], [3], 3, 1100) == pytest.approx(1100 / 1.1)  # resumed at 3
    assert steady_rate(records[:1], [0], 0, 1100) is None  # one epoch, a first: no steady rate


def _tiny_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 4)).astype("float32")
    y = (rng.random((3000, 1)) < 1 / (1 + np.exp(-2 * x[:, :1]))).astype("float32")
    values = dict(n_blocks=1, width=8, activation="gelu", optimizer="adam",
                  learning_rate=0.02, fine_tune_factor=0.1, batch_size=256, l2=0.0)  # fmt: skip
    return (x[:2000], y[:2000]), (x[2000:], y[2000:]), values


def test_the_moving_average_is_what_the_model_holds_after_every_epoch():
    """ema_momentum: the optimizer's average is copied into the model at each epoch's end,
    so the validation (and the best weights kept) are the average's. With a momentum of
    1 - 1e-7 the average stays where the first step left it: the model at the end of
    phase 1's second epoch is the model at the end of its first, while without an average
    the second epoch moves it."""
    import keras

    from study.training import fit

    train, validation, values = _tiny_problem()
    moved = {}
    for ema in (0.0, 1 - 1e-7):

        class Weights(keras.callbacks.Callback):
            ends: list = []

            def on_epoch_end(self, epoch, logs=None):
                self.ends.append(self.model.get_weights())

        begin = fit.start(values, 4, 3, None, patience_1=5, patience_2=1, max_epochs_1=2,
                          max_epochs_2=1, ema_momentum=ema)  # fmt: skip
        weights = Weights()
        weights.ends = []
        result = fit.fit(values, begin, train, validation, callbacks=[weights])
        assert [r.phase for r in result.history] == [1, 1, 2]
        first, second = weights.ends[:2]
        moved[ema] = max(float(np.abs(a - b).max()) for a, b in zip(first, second, strict=True))
    assert moved[0.0] > 0.01
    assert moved[1 - 1e-7] < 1e-6


def test_phase_2_rate_decays_every_epoch():
    from study.training import fit

    train, validation, values = _tiny_problem()
    begin = fit.start(values, 4, 3, None, patience_1=1, patience_2=9, max_epochs_1=1,
                      max_epochs_2=3, decay_2=0.5)  # fmt: skip
    result = fit.fit(values, begin, train, validation)
    rates = [r.learning_rate for r in result.history]
    assert rates == pytest.approx([0.02, 0.002, 0.001, 0.0005][: len(rates)])
    assert len(rates) >= 3
