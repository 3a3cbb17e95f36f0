"""study/best/card.py: the model card, the validation's metrics and the test metrics are
dataclasses whose files keep their layouts (key for key, in order); a field of the wrong
kind in a results file is read as absent, with a warning naming the file and the key."""

from __future__ import annotations

import json

import numpy as np

from study.best.card import FinalMetrics, ModelCard, TestMetrics

CARD = {
    "study": "s", "trial_id": "3", "hyperparameters": {"width": 8}, "final_fit_hyperparameters":
    {"width": 8, "l2": 1e-5}, "search_objective": 0.2, "retrain_objective": 0.19,
    "converged": False, "reason": "phase 2 was still improving", "training_rows": 5000,
    "retrain_epochs": 7, "test_metrics": {"test_cross_entropy": 0.21, "excess": 0.01},
    "data_fingerprint": "abc", "parameters": 97, "weights": {"kept": "trial"},
    "chosen_because": "the search's best trial", "c": {"compiled": True, "name": "acceptance"},
    "features": ["mc_eta"], "flags": [], "export_check": {"rows": 10}, "versions": {"keras": "3"},
    "backend": "jax", "date": "2026-01-01T00:00:00+00:00", "signature": {"input": "x"},
}  # fmt: skip


def test_a_card_round_trips_key_for_key():
    card = ModelCard.from_dict(CARD)
    assert card.to_dict() == CARD and list(card.to_dict()) == list(CARD)
    assert card.kept == "trial" and card.test_metrics.excess == 0.01
    assert card.test_metrics.bayes_cross_entropy is None


def test_the_pipelines_card_has_the_fit_fields_and_no_export_fields_yet():
    fit = {k: CARD[k] for k in list(CARD)[: list(CARD).index("chosen_because") + 1]}
    assert ModelCard.from_dict(fit).to_dict() == fit
    assert list(ModelCard().to_dict())[-1] == "chosen_because"  # null where unknown


def test_an_older_card_keeps_what_this_version_does_not_know(caplog):
    older = {"trial_id": 3, "test_metrics": {"bce": 0.2}, "converged": True, "notes": "x"}
    card = ModelCard.from_dict(older, "old/model_card.json")
    assert card.trial_id == "3" and card.chosen_because is None and card.converged is True
    assert card.test_metrics.extra == {"bce": 0.2} and card.to_dict()["notes"] == "x"
    assert caplog.text == ""


def test_a_field_of_the_wrong_kind_is_left_out_with_a_warning(caplog):
    hostile = {**CARD, "test_metrics": "great", "converged": "yes", "weights": [1]}
    card = ModelCard.from_dict(hostile, "best/export/model_card.json")
    assert (card.test_metrics, card.converged, card.weights, card.kept) == (None, None, None, None)
    for key, words in (("test_metrics", "a JSON object"), ("converged", "true or false"),
                       ("weights", "a JSON object")):  # fmt: skip
        assert f"best/export/model_card.json: {key} is not {words}; left out" in caplog.text
    assert ModelCard.from_dict(["not", "a", "card"], "x.json") == ModelCard()
    assert "x.json: not a JSON object; left out" in caplog.text


def test_the_validations_metrics_round_trip_and_give_the_headline():
    from study.best.validation import json_ready, validate
    from study.data import synthetic

    frame = next(synthetic.generate(2_000, seed=5))
    truth = frame[synthetic.TRUTH].to_numpy()
    label = frame[synthetic.LABEL].to_numpy()
    figures = validate(frame, label, np.clip(truth * 1.05, 0, 1), ["mc_eta"], truth)
    fit = {"trial_id": "3", "retrain_objective": 0.2, "converged": True, "reason": None,
           "retrain_epochs": 9, "weights": None, "training_rows": 2000}  # fmt: skip
    metrics = FinalMetrics(**figures, **fit)
    written = json.loads(json.dumps(json_ready(metrics.to_dict())))
    assert list(written)[:7] == [*figures][:6] + ["truth"]
    assert written["reason"] is None and written["weights"] is None  # as before: null
    assert FinalMetrics.from_dict(written).to_dict() == written
    head = TestMetrics.of(metrics)
    assert head.test_cross_entropy == figures["model_cross_entropy"]
    assert head.excess == figures["truth"]["excess"] and head.excess > 0
    assert list(head.to_dict()) == [
        "test_cross_entropy", "bayes_cross_entropy", "excess", "mean_abs_probability_difference",
    ]  # fmt: skip
    assert FinalMetrics(kinematic_spec={"slice": {"label": "GeV/c"}}).unit == "GeV/c"
    assert FinalMetrics(kinematic_spec={"slice": "x"}).unit == FinalMetrics().unit == ""
