"""`predict` on someone else's export (issue 35): the default engine runs no code from it,
a model.keras carrying code is refused, and the output never follows a planted link."""

import json
import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest

from study.best.exported import ExportedModel, network_config_problem
from study.cli import main
from study.data.preprocessing import Preprocessing
from study.errors import DataError
from study.training.network import build_network

FEATURES, FLAGS = ["a", "b", "c"], ["c"]


def _raw(rows: int = 64, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(0, 1, (rows, 2)), columns=["a", "b"])
    frame["c"] = rng.integers(0, 2, rows).astype(float)
    return frame


def _export(directory, model=None):
    """A tiny honest export: the study's network (width 8, 1 block) and its preprocessing."""
    directory.mkdir(parents=True)
    Preprocessing.fit(_raw(500, seed=1), FEATURES, FLAGS, n_quantiles=50).save(
        directory / "preprocessing.json"
    )
    model = model or build_network(len(FEATURES), 8, 1, "tanh", 1e-3)
    model.save(directory / "model.keras")
    return directory


def _forged_saved_model(path, mark):
    """A SavedModel whose `serve` writes `mark` (tf.io.write_file) and answers 0.5."""
    import tensorflow as tf

    class Forged(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, len(FEATURES)], tf.float32)])
        def serve(self, x):
            tf.io.write_file(str(mark), "ran code from the export")
            return tf.fill([tf.shape(x)[0]], 0.5)

    tf.saved_model.save(Forged(), str(path))


def _predict(export, tmp_path, *engine):
    _raw().to_feather(tmp_path / "in.feather")
    out = tmp_path / "out.feather"
    argv = ["predict", "--model", str(export), "--input", str(tmp_path / "in.feather"),
            "--output", str(out), *engine]  # fmt: skip
    return main(argv), out


def test_default_predict_never_loads_a_forged_savedmodel(tmp_path, capsys):
    export, mark = _export(tmp_path / "export"), tmp_path / "pwned.txt"
    _forged_saved_model(export / "saved_model", mark)
    code, out = _predict(export, tmp_path)
    assert code == 0 and not mark.exists()
    assert "predicted 64 rows" in capsys.readouterr().out
    p = pd.read_feather(out)["predicted_acceptance"].to_numpy()
    assert len(p) == 64 and np.all((p > 0) & (p < 1)) and not np.allclose(p, 0.5)
    # the SavedModel engine is an explicit opt-in, and it does run the export's graph
    code, out = _predict(export, tmp_path, "--engine", "savedmodel")
    assert code == 0 and mark.read_text() == "ran code from the export"


def test_the_savedmodel_engine_says_it_runs_code_from_the_export(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "RUNS CODE FROM THE EXPORT" in help_text and "keras (default)" in help_text


def test_the_keras_engine_agrees_with_the_network_on_preprocessed_rows(tmp_path):
    model = build_network(len(FEATURES), 8, 2, "gelu", 1e-3)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    export = _export(tmp_path / "export", model)
    loaded = ExportedModel(export)
    raw = _raw(300)
    x = loaded.pre.transform(raw)[FEATURES].to_numpy(np.float32)
    expected = model.predict(x, verbose=0)[:, 0]
    np.testing.assert_allclose(loaded.predict(raw, batch_size=128), expected, atol=1e-6)
    assert loaded.engine == "keras" and loaded.features == FEATURES


def _lambda_model(mark):
    """The study's network with a Lambda layer whose function writes `mark` when run."""
    import keras

    write = eval(f"lambda x: (__import__('pathlib').Path({str(mark)!r}).write_text('ran'), x)[1]")
    inputs = keras.Input(shape=(len(FEATURES),), name="features")
    x = keras.layers.Dense(8, activation="tanh", name="input_dense")(inputs)
    x = keras.layers.Lambda(write, name="sneaky")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="acceptance")(x)
    return keras.Model(inputs, outputs, name="acceptance")


def test_a_model_keras_with_a_lambda_layer_is_refused_in_one_line(tmp_path, capsys):
    mark = tmp_path / "lambda-ran.txt"
    export = _export(tmp_path / "export", _lambda_model(mark))
    mark.unlink()  # building the model ran it once, here
    code, out = _predict(export, tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "not the study's residual network (object 'Lambda' of module 'keras.layers')" in err
    assert not mark.exists() and not out.exists()


def _tampered(export, edit):
    """model.keras rewritten with `edit(config)` applied to its config.json."""
    path = export / "model.keras"
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(files["config.json"])
    edit(config)
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def _dense(config, k=1):
    return config["config"]["layers"][k]["config"]


CODE = {"module": "builtins", "class_name": "exec", "config": {}, "registered_name": None}


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda c: c["config"]["layers"][1].update(module="os", class_name="system"),
         "object 'system' of module 'os'"),
        (lambda c: _dense(c).update(activation=CODE), "activation {'module': 'builtins'"),
        (lambda c: _dense(c).update(activation="keras.src.utils.file_utils>get_file"),
         "activation 'keras.src.utils.file_utils>get_file'"),
        (lambda c: c["config"]["layers"][1].update(registered_name="Custom>Dense"),
         "object 'Dense' registered as 'Custom>Dense'"),
    ],
)  # fmt: skip
def test_a_tampered_config_is_refused_before_keras_reads_it(tmp_path, edit, problem):
    export = _export(tmp_path / "export")
    _tampered(export, edit)
    with pytest.raises(DataError, match="refused before loading it") as err:
        ExportedModel(export)
    assert problem in str(err.value)


def test_another_network_shape_and_width_are_refused(tmp_path):
    import keras

    inputs = keras.Input(shape=(len(FEATURES),), name="features")
    outputs = keras.layers.Dense(1, activation="sigmoid", name="acceptance")(inputs)
    export = _export(tmp_path / "a", keras.Model(inputs, outputs))
    with pytest.raises(DataError, match=r"refused: not the study's residual network"):
        ExportedModel(export)
    export = _export(tmp_path / "b", build_network(5, 8, 1))
    with pytest.raises(DataError, match="5 inputs for 3 features"):
        ExportedModel(export)


def test_the_study_network_config_passes_the_check(tmp_path):
    export = _export(tmp_path / "export", build_network(3, 16, 3, "relu"))
    with zipfile.ZipFile(export / "model.keras") as archive:
        assert network_config_problem(json.loads(archive.read("config.json"))) is None


def test_a_planted_tmp_link_is_not_followed(tmp_path):
    export = _export(tmp_path / "export")
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file")
    (tmp_path / ".out.feather.tmp").symlink_to(victim)
    code, out = _predict(export, tmp_path)
    assert code == 0 and victim.read_text() == "someone else's file"
    assert not out.is_symlink() and len(pd.read_feather(out)) == 64
    assert (tmp_path / ".out.feather.tmp").is_symlink()  # left as it was
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.feather.")][1:]


def test_a_missing_model_keras_names_it(tmp_path):
    export = _export(tmp_path / "export")
    (export / "model.keras").unlink()
    with pytest.raises(DataError, match=r"model.keras: missing \(is .* an export directory"):
        ExportedModel(export)
    shutil.rmtree(export)
