import numpy as np
import pandas as pd
import pytest

from study.data.feather import FeatherReader, write_split
from study.testing import streaming

DEFS = {"features": ["a", "b"], "labels": ["y"], "extras": ["t"]}


@pytest.fixture
def split(tmp_path):
    n = 2_500
    frame = pd.DataFrame(
        {
            "a": np.arange(n, dtype=float),
            "b": -np.arange(n, dtype=float),
            "y": (np.arange(n) % 2).astype(float),
            "t": np.full(n, 0.5),
        }
    )
    paths = write_split(frame, tmp_path / "s", DEFS, rows_per_file=1_000)
    return tmp_path / "s", frame, paths


def test_writer_splits_into_files_of_chosen_size(split):
    directory, _, paths = split
    assert [p.name for p in paths] == [
        "part-00000.feather",
        "part-00001.feather",
        "part-00002.feather",
    ]
    reader = FeatherReader(directory)
    assert reader.num_rows == 2_500
    assert (reader.features, reader.labels, reader.extras) == (["a", "b"], ["y"], ["t"])


def test_round_trip_to_numpy_and_pandas(split):
    directory, frame, _ = split
    reader = FeatherReader(directory)
    x, y = reader.to_numpy()
    np.testing.assert_array_equal(x, frame[["a", "b"]].to_numpy(np.float32))
    np.testing.assert_array_equal(y[:, 0], frame["y"].to_numpy(np.float32))
    pd.testing.assert_frame_equal(reader.to_pandas(), frame.astype(np.float32))


def test_unshuffled_batches_are_in_order_with_exact_sizes(split):
    reader = FeatherReader(split[0])
    batches = list(streaming.iter_batches(reader, 700))
    assert [len(x) for x, _ in batches] == [700, 700, 700, 400]
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches])[:, 0], np.arange(2_500))


def test_shuffle_is_complete_reproducible_and_changes_per_epoch(split):
    reader = FeatherReader(split[0])

    def rows(**kw):
        return np.concatenate(
            [x[:, 0] for x, _ in streaming.iter_batches(reader, 600, shuffle=True, **kw)]
        )

    first = rows(seed=3, epoch=0)
    np.testing.assert_array_equal(np.sort(first), np.arange(2_500))
    np.testing.assert_array_equal(first, rows(seed=3, epoch=0))
    assert not np.array_equal(first, rows(seed=3, epoch=1))
    # rows of different files are mixed inside batches
    batch = next(streaming.iter_batches(reader, 600, shuffle=True, seed=3, files_in_buffer=3))[0][
        :, 0
    ]
    assert len(np.unique(batch // 1_000)) > 1


def test_features_and_labels_stay_paired_under_shuffle(split):
    reader = FeatherReader(split[0])
    for x, y in streaming.iter_batches(reader, 512, shuffle=True, seed=9):
        np.testing.assert_array_equal(x[:, 1], -x[:, 0])
        np.testing.assert_array_equal(y[:, 0], x[:, 0] % 2)


def test_as_tf_dataset_yields_batches_and_reshuffles(split):
    reader = FeatherReader(split[0])
    ds = streaming.as_tf_dataset(reader, 1_000, shuffle=True, seed=1)
    first = [x.numpy() for x, _ in ds]
    second = [x.numpy() for x, _ in ds]
    assert [len(x) for x in first] == [1_000, 1_000, 500]
    assert first[0].shape[1] == 2
    assert not np.array_equal(first[0], second[0])
    np.testing.assert_array_equal(np.sort(np.concatenate(first)[:, 0]), np.arange(2_500))


def test_sample_draws_distinct_rows_across_files_reproducibly(split):
    reader = FeatherReader(split[0])
    x, y = reader.sample(700, seed=3)
    assert x.shape == (700, 2) and y.shape == (700, 1)
    rows = x[:, 0].astype(int)
    assert len(set(rows)) == 700  # without replacement
    assert (x[:, 1] == -x[:, 0]).all() and (y[:, 0] == rows % 2).all()  # rows kept whole
    assert {r // 1_000 for r in rows} == {0, 1, 2}  # drawn from every file
    assert np.array_equal(reader.sample(700, seed=3)[0], x)
    assert not np.array_equal(reader.sample(700, seed=4)[0], x)
    whole, _ = reader.sample(5_000)
    assert np.array_equal(whole[:, 0], np.arange(2_500))  # n past the size: the whole split
