"""The trial line: the search space's hyperparameters, Hyperband's rung in words."""

import logging

from study.search.progress import Progress, rung_text

RUNG = {"tuner/epochs": 9, "tuner/initial_epoch": 3, "tuner/bracket": 2, "tuner/round": 1}


def test_the_rung_in_words():
    assert rung_text({"width": 64}) == []
    assert rung_text({**RUNG, "tuner/trial_id": "0004"}) == [
        "rung 2 of 3, epochs 4-9, continues trial 0004"
    ]
    first = {**RUNG, "tuner/initial_epoch": 0, "tuner/round": 0, "tuner/trial_id": None}
    assert rung_text(first) == ["rung 1 of 3, epochs 1-9"]


def test_a_trial_line_shows_no_tuner_internals(caplog):
    values = {"n_blocks": 3, "width": 128, "learning_rate": 0.001234, **RUNG}
    with caplog.at_level(logging.INFO, logger="study.search.progress"):
        Progress(50, 4).trial_begin("0007", values, 0.25)
    (line,) = caplog.messages
    assert "tuner/" not in line
    assert line.startswith(
        "trial 5 of 50 (id 0007): n_blocks=3, width=128, learning_rate=0.00123, "
    )
    assert "rung 2 of 3, epochs 4-9 | best so far 0.25000" in line
