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


@pytest.mark.slow
def test_a_study_without_tensorflow_exports_checked_c_and_export_adds_the_savedmodel(
    tiny_dataset, tmp_path
):
    """A JAX-only machine: `import tensorflow` fails in the study and every process it
    starts; the study ends 0 with model.keras and the compiled C checked against the Keras
    model, the missing SavedModel said in one line; `export` (TensorFlow present) then
    writes a SavedModel that agrees with the C within 1e-5."""
    from study.testing.no_tensorflow import install

    install(tmp_path / "site")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KERAS_BACKEND", None)
    blocked = dict(env, PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), str(ROOT)]))
    probe = [sys.executable, "-c", "import tensorflow"]
    assert subprocess.run(probe, env=blocked, capture_output=True).returncode == 1
    command = [sys.executable, "run_study.py", "--data", str(tiny_dataset), "--results",
               str(tmp_path), "--backend", "jax", *TINY]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=blocked, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    export = tmp_path / "s" / "best" / "export"
    assert (export / "model.keras").exists() and not (export / "saved_model").exists()
    said = [line for line in out.splitlines() if "SavedModel is not written" in line]
    assert len(said) == 1 and "run_study.py export" in said[0], out[-3000:]
    card = json.loads((export / "model_card.json").read_text())
    assert card["c"]["compiled"] and card["c"]["check"]["against"] == "Keras model"
    assert card["c"]["check"]["max_abs_difference"] <= 1e-5
    assert card["export_check"]["saved_model"].startswith("not written")
    predict = [sys.executable, "run_study.py", "predict", "--model", str(export), "--input",
               str(tiny_dataset / "test"), "--output", str(tmp_path / "p.feather")]  # fmt: skip
    # the default engine (keras: model.keras in safe mode) serves it on JAX; the SavedModel
    # engine, asked for, says in one line what serves it instead
    served = subprocess.run(predict, cwd=ROOT, env=blocked, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert served.returncode == 0 and "(keras)" in served.stdout, served.stderr[-2000:]
    predicted = subprocess.run([*predict, "--engine", "savedmodel"], cwd=ROOT, env=blocked,
                               capture_output=True, text=True, timeout=300)  # fmt: skip
    assert predicted.returncode == 2 and "--engine c" in predicted.stderr, predicted.stderr
    export_command = [
        sys.executable, "run_study.py", "export", "--results", str(tmp_path), "--study", "s",
    ]  # fmt: skip
    # a model card is a results file: a C name in it that is a path is refused, nothing written
    honest = (export / "model_card.json").read_text()
    forged = json.loads(honest)
    forged["c"]["name"] = "../../evil"
    (export / "model_card.json").write_text(json.dumps(forged))
    refused = subprocess.run(export_command, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "C name '../../evil': expected a C identifier" in refused.stderr
    assert not (export / "saved_model").exists() and not list(tmp_path.rglob("evil*"))
    (export / "model_card.json").write_text(honest)
    later = subprocess.run(export_command, cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert later.returncode == 0, (later.stdout + later.stderr)[-3000:]
    assert "export completed; SavedModel checked" in later.stdout
    card = json.loads((export / "model_card.json").read_text())
    assert (export / "saved_model" / "saved_model.pb").exists()
    assert card["export_check"]["max_abs_difference"] <= 1e-5
    assert card["c"]["check"]["against"] == "SavedModel"
    assert card["c"]["check"]["max_abs_difference"] <= 1e-5
    assert card["c"]["check"]["rows"] > 0


def test_without_tensorflow_the_tensorboard_logs_and_export_are_refused(
    monkeypatch, capsys, tmp_path
):
    """Where TensorFlow is missing, --tensorboard (Keras's callback writes through it) is
    refused before any trial, and `export` of a study with nothing left to finish (no
    best/final/) says it needs TensorFlow."""
    import study.backend
    from study.cli import main
    from study.config import StudyConfig
    from study.testing.scripted import write_study

    monkeypatch.setattr(study.backend, "has_tensorflow", lambda: False)
    with pytest.raises(ConfigError, match="tensorboard: the per-trial logs need TensorFlow"):
        StudyConfig(tensorboard=True).check()
    write_study(tmp_path, "s", ["COMPLETED"])
    assert main(["export", "--results", str(tmp_path), "--study", "s"]) == 2
    assert "export: the SavedModel needs TensorFlow" in capsys.readouterr().err
