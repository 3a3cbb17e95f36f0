import json

import numpy as np
import pandas as pd
import pytest

from study.data.preprocessing import Preprocessing
from study.errors import DataError


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "energy": rng.exponential(3.0, 20_000),
            "angle": rng.uniform(-3, 3, 20_000),
            "flag": rng.integers(0, 2, 20_000).astype(float),
        }
    )


def test_forward_is_standard_normal_and_flags_pass(frame):
    pre = Preprocessing.fit(frame, ["energy", "angle", "flag"], ["flag"])
    out = pre.transform(frame)
    for c in ("energy", "angle"):
        assert out[c].mean() == pytest.approx(0.0, abs=0.02)
        assert out[c].std() == pytest.approx(1.0, abs=0.03)
    np.testing.assert_array_equal(out["flag"], frame["flag"])


def test_round_trip_within_1e4_inside_fitted_range(frame, tmp_path):
    pre = Preprocessing.fit(frame, ["energy", "angle", "flag"], ["flag"])
    pre.save(tmp_path / "preprocessing.json")
    loaded = Preprocessing.load(tmp_path / "preprocessing.json")
    inside = frame[(frame.energy < frame.energy.quantile(0.999)) & (frame.energy > 0.001)]
    z = loaded.transform(inside).astype("float64")
    back = loaded.inverse_transform(z)
    assert np.max(np.abs(back["energy"] - inside["energy"])) < 1e-4 * max(1.0, inside.energy.max())
    assert np.max(np.abs(back["angle"] - inside["angle"])) < 1e-4


def test_json_has_no_pickle_and_is_complete(frame, tmp_path):
    pre = Preprocessing.fit(frame, ["energy", "angle", "flag"], ["flag"], n_quantiles=50)
    pre.save(tmp_path / "p.json")
    raw = json.loads((tmp_path / "p.json").read_text())
    assert raw["flags"] == ["flag"] and set(raw["quantiles"]) == {"energy", "angle"}
    assert len(raw["quantiles"]["energy"]) == 50


def test_ties_are_handled(tmp_path):
    frame = pd.DataFrame({"v": np.repeat([1.0, 2.0, 3.0, 4.0], 1000)})
    pre = Preprocessing.fit(frame, ["v"], [])
    out = pre.transform(frame)["v"].to_numpy()
    assert np.all(np.isfinite(out))
    assert out[0] < out[1500] < out[2500] < out[-1]


def test_malformed_file_is_a_data_error(tmp_path):
    (tmp_path / "p.json").write_text("{not json")
    with pytest.raises(DataError, match="p.json: not a valid preprocessing file"):
        Preprocessing.load(tmp_path / "p.json")
