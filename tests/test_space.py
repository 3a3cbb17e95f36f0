import pytest

from study import space as model
from study.config import StudyConfig
from study.errors import ConfigError
from study.search.hypermodel import AcceptanceHyperModel


def test_default_space_covers_the_issue_ranges():
    s = model.SPACE
    assert (s["n_blocks"].low, s["n_blocks"].high) == (1, 16)
    assert (s["width"].low, s["width"].high) == (16, 512)
    assert {"adam", "rmsprop", "nadam"} <= set(s["optimizer"].values)
    assert s["learning_rate"].log and s["fine_tune_factor"].default == 0.1
    for name in ("batch_size", "activation", "l2"):
        assert name in s


def test_fix_accepts_values_outside_the_range_and_types_them():
    space = model.fix(model.SPACE, "width", "1024")
    space = model.fix(space, "optimizer", "rmsprop")
    space = model.fix(space, "learning_rate", "0.5")
    assert space["width"].values == (1024,) and space["width"].kind == "fixed"
    assert space["learning_rate"].values == (0.5,)
    with pytest.raises(ValueError, match="width: 'wide' is not a int"):
        model.fix(model.SPACE, "width", "wide")
    with pytest.raises(ValueError, match="unknown hyperparameter 'depth'"):
        model.fix(model.SPACE, "depth", "3")


def test_narrow_ranges_and_choices():
    space = model.narrow(model.SPACE, "width", "32:64")
    space = model.narrow(space, "optimizer", "adam,nadam")
    assert (space["width"].low, space["width"].high, space["width"].default) == (32, 64, 64)
    assert space["optimizer"].values == ("adam", "nadam")
    with pytest.raises(ValueError, match="need low <= high"):
        model.narrow(model.SPACE, "width", "64:32")


def test_hypermodel_builds_fixed_point():
    import keras_tuner

    space = model.SPACE
    for name, value in {"width": 128, "n_blocks": 10, "activation": "tanh"}.items():
        space = model.fix(space, name, value)
    hm = AcceptanceHyperModel(12, space)
    net = hm.build(keras_tuner.HyperParameters())
    assert net.count_params() == 166_913
    hp = keras_tuner.HyperParameters()  # the tuner's hypermodel declares, builds nothing
    assert hm.as_keras_tuner().build(hp) is None
    assert hp.values["width"] == 128 and "learning_rate" in hp.values


def test_space_round_trips_through_json_dict():
    space = model.narrow(model.fix(model.SPACE, "width", 64), "n_blocks", "2:4")
    assert model.space_from_dict(model.space_to_dict(space)) == space


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    (tmp_path / "c.json").write_text('{"trials": 3, "widht": 4}')
    with pytest.raises(ConfigError, match="unknown key 'widht'"):
        StudyConfig.from_file(tmp_path / "c.json")
    with pytest.raises(ConfigError, match="tuner: expected one of random, bayesian"):
        StudyConfig(tuner="grid").check()
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        StudyConfig(fixed={"depth": 3}).check()
