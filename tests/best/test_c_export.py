"""The compiled C export: the whole pipeline against the SavedModel, its entries, its
failures (issue 18)."""

import numpy as np
import pytest

from study.best import c_export
from study.best.export import TOLERANCE, write_saved_model
from study.data import synthetic
from study.data.preprocessing import Preprocessing
from study.errors import ExportError
from study.training.network import build_network


def _pipeline(tmp_path, activation="tanh", width=128, blocks=10, rows=120_000):
    """A network with non-zero weights behind a preprocessing fitted on generated data,
    one continuous column with ties; its SavedModel; raw rows to check on."""
    frame = next(synthetic.generate(rows, seed=3, chunk_size=rows))
    features = [c for c in frame.columns if c.startswith("mc_")]
    flags = [c for c in features if c.startswith("mc_is") or c == "mc_charge"]
    frame["mc_z"] = np.round(frame["mc_z"], 0)  # many equal values: ties in its quantiles
    pre = Preprocessing.fit(frame.iloc[:20_000], features, flags)
    assert np.any(np.diff(pre.quantiles["mc_z"]) <= 0)
    model = build_network(len(features), width, blocks, activation, 1e-3)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            k, b = weights
            layer.set_weights([
                rng.normal(0, 0.5 / np.sqrt(k.shape[0]), k.shape).astype(np.float32),
                rng.normal(0, 0.1, b.shape).astype(np.float32),
            ])  # fmt: skip
    write_saved_model(model, pre, tmp_path / "saved_model")
    return model, pre, frame[features].to_numpy(np.float32)[20_000:]


def test_notebook_network_in_c_matches_the_savedmodel_on_100k_rows(tmp_path):
    model, pre, raw = _pipeline(tmp_path)
    record = c_export.build(model, pre, tmp_path)
    assert record["compiled"] and "-O3" in record["flags"]
    rows = c_export.check_rows(pre, raw)
    flags = [pre.features.index(c) for c in pre.flags]
    combinations = np.unique(raw[:, flags], axis=0)
    assert len(combinations) == 6  # 3 species x 2 charges: the flag combinations that occur
    assert len(rows) == len(raw) + 64 * (5 * len(pre.continuous) + len(combinations))
    figures = c_export.check(tmp_path, rows, TOLERANCE)
    assert figures["rows"] >= 100_000
    assert figures["max_abs_difference"] <= TOLERANCE
    assert figures["single_entry_max_abs_difference"] == 0.0
    assert c_export.flops_per_particle(model) == 2 * (12 * 128 + 10 * 128 * 128 + 128)
    header = (tmp_path / "c" / "acceptance.h").read_text()
    assert "float *acceptance(float *output, const float *input);" in header
    assert "float *acceptance_batch(float *output, const float *input, int n);" in header


@pytest.mark.parametrize("activation, width, blocks", [("gelu", 21, 3), ("relu", 16, 2),
                                                       ("swish", 40, 1)])  # fmt: skip
def test_every_activation_and_a_padded_width_match(tmp_path, activation, width, blocks):
    model, pre, raw = _pipeline(tmp_path, activation, width, blocks, rows=30_000)
    c_export.build(model, pre, tmp_path, name="lamarr_acc")
    library = c_export.CLibrary(tmp_path)
    assert library.name == "lamarr_acc"
    figures = c_export.check(tmp_path, c_export.check_rows(pre, raw), TOLERANCE)
    assert figures["max_abs_difference"] <= TOLERANCE


def test_a_difference_is_an_export_error_naming_the_row(tmp_path):
    model, pre, raw = _pipeline(tmp_path, "tanh", 16, 1, rows=25_000)
    c_export.build(model, pre, tmp_path)
    with pytest.raises(ExportError, match=r"differ by .* at row \d+ \(raw \["):
        c_export.check(tmp_path, raw[:100], -1.0)


def test_without_a_compiler_the_source_is_written_and_said(tmp_path, monkeypatch, caplog):
    model, pre, _ = _pipeline(tmp_path, "tanh", 16, 1, rows=25_000)
    monkeypatch.setattr(c_export, "compiler", lambda: None)
    record = c_export.build(model, pre, tmp_path)
    assert record == {**record, "compiled": False, "reason": "no C compiler on this machine"}
    assert (tmp_path / "c" / "acceptance.c").exists() and not (
        tmp_path / "c" / "acceptance.so"
    ).exists()
    assert "no C compiler" in caplog.text
    with pytest.raises(ExportError, match="not compiled"):
        c_export.CLibrary(tmp_path)
