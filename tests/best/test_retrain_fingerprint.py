"""`retrain` trains only on the study's data (issue 35): another dataset put at the data
path study.json records is refused, naming both fingerprints, before any training."""

import json
import shutil

import pytest

from study.best.retrain import check_study_data
from study.cli import main
from study.data.dataset import open_dataset
from study.data.prepare import generate_dataset
from study.errors import ConfigError
from study.store.study_file import read_config
from study.testing.scripted import write_study


@pytest.fixture
def study(tmp_path):
    """A scripted study (one completed trial) whose study.json names data/ and records the
    fingerprint of the 2,000 rows generated there with seed 1."""
    data = tmp_path / "data"
    generate_dataset(2_000, data, seed=1)
    study_dir = write_study(tmp_path, "s", ["COMPLETED"])
    record = json.loads((study_dir / "study.json").read_text())
    record["config"]["data"] = str(data)
    record["data_fingerprint"] = open_dataset(data).fingerprint()
    (study_dir / "study.json").write_text(json.dumps(record))
    return study_dir, data, record["data_fingerprint"]


def test_the_study_own_data_passes(study):
    study_dir, data, _ = study
    check_study_data(read_config(study_dir), open_dataset(data))


def test_retrain_on_another_dataset_at_the_study_path_is_refused(study, capsys):
    study_dir, data, recorded = study
    shutil.rmtree(data)
    generate_dataset(2_000, data, seed=2)  # another sample, same path, same layout
    found = open_dataset(data).fingerprint()
    assert found != recorded
    assert main(["retrain", "--results", str(study_dir.parent), "--study", "s"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"{data}: not this study's data (fingerprint {found[:16]}, " in err
    assert f"{study_dir / 'study.json'} recorded {recorded[:16]})" in err
    assert not (study_dir / "best").exists()  # refused before any training
    with pytest.raises(ConfigError, match="retrain trains only on the data the study searched"):
        check_study_data(read_config(study_dir), open_dataset(data))


def test_other_quantiles_in_the_same_data_are_another_dataset(study):
    """preprocessing.json (whose quantiles the export would carry) edited, rows alone."""
    from study.data.preprocessing import Preprocessing

    study_dir, data, _ = study
    pre = Preprocessing.load(data / "preprocessing.json")
    column = pre.continuous[0]
    pre.quantiles[column] = [q * 1.01 for q in pre.quantiles[column]]
    pre.save(data / "preprocessing.json")
    with pytest.raises(ConfigError, match="not this study's data"):
        check_study_data(read_config(study_dir), open_dataset(data))
