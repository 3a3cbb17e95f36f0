import json

import numpy as np
import pandas as pd

from study.cli import main
from study.data import synthetic
from study.data.dataset import SPLITS, open_dataset
from study.data.raw import infer_flags


def test_generate_writes_splits_and_prints_statistics(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["generate", "--rows", "20000", "--output", str(out), "--seed", "3"]) == 0
    text = capsys.readouterr().out
    for key in ("rows", "accepted_fraction", "bayes_cross_entropy"):
        assert key in text
    data = open_dataset(out)
    rows = {s: getattr(data, s).num_rows for s in SPLITS}
    assert sum(rows.values()) == 20_000
    assert abs(rows["train"] / 20_000 - 0.5) < 0.02 and abs(rows["test"] / 20_000 - 0.4) < 0.02
    assert data.features == synthetic.FEATURES and data.test.extras == [synthetic.TRUTH]
    x, _ = data.train.to_numpy()
    assert abs(x[:, 0].mean()) < 0.05 and abs(x[:, 0].std() - 1) < 0.05  # quantile-normal
    assert set(np.unique(x[:, -1])) == {-1.0, 1.0}  # charge passes through
    assert sorted(json.loads((out / "preprocessing.json").read_text())["flags"]) == sorted(
        synthetic.FLAGS
    )


def test_prepare_from_raw_infers_features_and_flags(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    frames = list(synthetic.generate(9_000, seed=2, chunk_size=3_000))
    for k, frame in enumerate(frames):
        frame.to_feather(raw / f"part{k}.feather")
    out = tmp_path / "prep"
    code = main(["prepare", "--input", str(raw), "--output", str(out), "--extras", synthetic.TRUTH])
    assert code == 0
    data = open_dataset(out)
    assert data.features == synthetic.FEATURES
    assert sorted(data.preprocessing.flags) == sorted(synthetic.FLAGS)
    assert sum(getattr(data, s).num_rows for s in SPLITS) == 9_000
    # the inverse transform gives back the raw values (float32 storage)
    test = data.test.to_pandas()
    back = data.preprocessing.inverse_transform(test.astype("float64"))
    original = pd.concat(frames, ignore_index=True)
    row = original[np.isclose(original["mc_phi"], back["mc_phi"].iloc[0], atol=1e-4)]
    assert len(row) >= 1
    assert abs(row["mc_eta"].iloc[0] - back["mc_eta"].iloc[0]) < 1e-3


def test_fingerprint_changes_with_content(tiny_dataset, tmp_path):
    import shutil

    copy = tmp_path / "c"
    shutil.copytree(tiny_dataset, copy)
    a = open_dataset(copy).fingerprint()
    assert a == open_dataset(tiny_dataset).fingerprint()
    frame = pd.read_feather(copy / "train" / "part-00000.feather")
    frame.iloc[0, 0] += 1.0
    frame.to_feather(copy / "train" / "part-00000.feather")
    assert open_dataset(copy).fingerprint() != a


def test_infer_flags():
    frame = pd.DataFrame(
        {
            "a": [0.0, 1.0, 1.0],
            "b": [-1.0, 1.0, 1.0],
            "c": [0.5, 1.0, 2.0],
            "d": [1.0, 2.0, 3.0],
            "e": [1.0, 2.0, 4.0],
        }
    )
    frame = pd.concat(
        [frame, pd.DataFrame({"e": [5.0], "a": [0.0], "b": [1.0], "c": [3.0], "d": [1.0]})]
    )
    assert infer_flags(frame, list(frame.columns)) == ["a", "b", "d"]
