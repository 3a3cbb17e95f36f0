"""--backend jax: trials and retrain on Keras's JAX backend, the export still a TensorFlow
SavedModel (written by a TensorFlow child process) that reproduces the trained model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from study.backend import select
from study.errors import ConfigError
from study.testing.presets import tiny

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "--trials", "2", "--study", "s", "--no-report", *tiny(2, stable=False, retrain_epochs=2),
    "--time-budget", "none",
]  # fmt: skip


def test_an_unknown_backend_is_one_clear_error():
    expected = "backend: expected one of tensorflow, jax, found 'torch'"
    with pytest.raises(ConfigError, match=expected):
        select("torch")


@pytest.mark.slow
def test_a_study_on_jax_trains_there_and_exports_a_savedmodel(tiny_dataset, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KERAS_BACKEND", None)
    command = [sys.executable, "run_study.py", "--data", str(tiny_dataset), "--results",
               str(tmp_path), "--backend", "jax", *TINY]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    study = tmp_path / "s"
    assert json.loads((study / "study.json").read_text())["config"]["backend"] == "jax"
    reports = [json.loads(p.read_text()) for p in (study / "trials").glob("*/report.json")]
    assert len(reports) == 2 and all(r["status"] == "COMPLETED" for r in reports)
    card = json.loads((study / "best" / "export" / "model_card.json").read_text())
    assert card["backend"] == "jax"
    assert card["export_check"]["rows"] > 0
    assert card["export_check"]["max_abs_difference"] <= 1e-5
    assert (study / "best" / "export" / "saved_model" / "saved_model.pb").exists()
    assert not list((study / "best" / "export").glob("check_*.npy"))
    # the SavedModel serves in a plain TensorFlow process (predict)
    from study.data import synthetic

    raw = tmp_path / "raw.feather"
    next(synthetic.generate(300, seed=5)).to_feather(raw)
    out = tmp_path / "p.feather"
    predicted = subprocess.run(
        [sys.executable, "run_study.py", "predict", "--model", str(study / "best" / "export"),
         "--input", str(raw), "--output", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    import pandas as pd

    assert pd.read_feather(out)["predicted_acceptance"].between(0, 1).all()
