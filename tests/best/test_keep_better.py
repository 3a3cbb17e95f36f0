"""The final fit never exports worse than the search already had: a final fit made worse
than its trial (one epoch of the full-data recipe, two steps of 2,048 rows, on tiny data)
exports the trial's own weights, and the card, the metrics and the terminal say so."""

import json

from study.cli import main
from study.testing.presets import study_argv, tiny


def test_a_final_fit_worse_than_its_trial_exports_the_trial_s_weights(
    tiny_dataset, tmp_path, capsys
):
    flags = ["--no-report", *tiny(4), "--search-rows", "0", "--retrain-recipe", "full-data",
             "--retrain-max-epochs", "1"]  # fmt: skip
    assert main(study_argv(tiny_dataset, tmp_path, 1, flags=flags)) == 0
    out = capsys.readouterr().out
    best = tmp_path / "s" / "best"
    card = json.loads((best / "export" / "model_card.json").read_text())
    kept = card["weights"]
    assert kept["kept"] == "trial"
    assert kept["trial_val_bce"] < kept["final_fit_val_bce"]
    assert json.loads((best / "validation" / "metrics.json").read_text())["weights"] == kept
    assert "exported trial 0's own weights: val_bce" in out
    # the trial validated on the whole split (--search-rows 0): the same figure, its weights
    trial = json.loads((tmp_path / "s" / "trials" / "0" / "report.json").read_text())
    assert abs(kept["trial_val_bce"] - trial["objective"]) < 1e-6
