"""predict reads what prepare reads: feather, parquet and ROOT (TTree or RNTuple) give the
same table for the same rows; the model's features must be there, one finite number a row;
a ROOT tree's jagged and array branches are left out of the flat output and named."""

import awkward as ak
import numpy as np
import pandas as pd
import pytest

from study.data.raw import raw_frame
from study.errors import ConfigError, DataError
from tests.data.test_formats import FEATURES, SUFFIX, write, write_root
from tests.data.test_formats import raw_frame as rows


def two_files(tmp_path, kind: str, frame: pd.DataFrame):
    folder = tmp_path / kind
    folder.mkdir()
    write(frame.iloc[:300], folder / f"a.{SUFFIX[kind]}", kind)
    write(frame.iloc[300:], folder / f"b.{SUFFIX[kind]}", kind)
    return folder


@pytest.mark.parametrize("kind", ["feather", "parquet", "ttree", "rntuple"])
def test_the_same_rows_in_every_format_give_the_same_table(tmp_path, kind):
    frame = rows()
    table, left_out = raw_frame(two_files(tmp_path, kind, frame), FEATURES)
    assert left_out == []
    assert len(table) == 700
    assert sorted(table.columns) == sorted(frame.columns)
    for column in frame:
        np.testing.assert_array_equal(table[column].to_numpy(), frame[column].to_numpy())


def test_jagged_and_array_branches_are_left_out_and_named(tmp_path):
    frame = rows(n=4)
    columns = {c: frame[c].to_numpy() for c in frame}
    columns["hits"] = ak.Array([[1.0], [], [2.0, 3.0], [4.0]])
    columns["cov"] = np.arange(12, dtype=np.float64).reshape(4, 3)
    write_root(tmp_path / "a.root", columns)
    table, left_out = raw_frame(tmp_path / "a.root", FEATURES)
    assert sorted(left_out) == ["cov", "hits"]
    assert "hits" not in table and "cov" not in table and len(table) == 4
    np.testing.assert_array_equal(table["p"].to_numpy(), frame["p"].to_numpy())


def test_a_feature_that_is_jagged_is_refused_naming_it(tmp_path):
    frame = rows(n=4)
    columns = {c: frame[c].to_numpy() for c in frame if c != "p"}
    columns["p"] = ak.Array([[1.0], [], [2.0, 3.0], [4.0]])
    write_root(tmp_path / "a.root", columns)
    with pytest.raises(DataError, match=r"a.root: tree 'tree': branch p is jagged"):
        raw_frame(tmp_path / "a.root", FEATURES)


@pytest.mark.parametrize("kind", ["feather", "parquet", "ttree"])
def test_a_missing_feature_is_named_with_what_the_file_has(tmp_path, kind):
    folder = two_files(tmp_path, kind, rows().drop(columns="eta"))
    noun = "branch" if kind == "ttree" else "column"
    with pytest.raises(DataError) as caught:
        raw_frame(folder, FEATURES)
    message = str(caught.value)
    assert f"a.{SUFFIX[kind]}" in message
    assert f"{noun} eta: needed by the model but absent" in message
    assert "acceptance, charge, p, phi, truth" in message


def test_a_feature_missing_from_a_later_file_is_named(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    frame = rows()
    write(frame.iloc[:300], folder / "a.feather", "feather")
    write(frame.iloc[300:].drop(columns="phi"), folder / "b.feather", "feather")
    with pytest.raises(DataError, match=r"b.feather: column phi: needed by the model"):
        raw_frame(folder, FEATURES)


def test_nan_in_a_feature_and_text_features_are_refused(tmp_path):
    frame = rows(n=10)
    frame.loc[3, "p"] = np.nan
    write(frame, tmp_path / "a.parquet", "parquet")
    with pytest.raises(DataError, match=r"a.parquet: column p: 1 NaN value\(s\), first at row 3"):
        raw_frame(tmp_path / "a.parquet", FEATURES)
    frame = rows(n=10).assign(eta="x")
    write(frame, tmp_path / "b.feather", "feather")
    with pytest.raises(DataError, match=r"column eta: not numeric \(type (large_)?string"):
        raw_frame(tmp_path / "b.feather", FEATURES)


def test_tree_names_the_tree_and_is_refused_on_feather(tmp_path):
    frame = rows(n=10)
    columns = {c: frame[c].to_numpy() for c in frame}
    import uproot

    with uproot.recreate(tmp_path / "two.root") as file:
        file.mktree("a", {c: v.dtype for c, v in columns.items()}).extend(columns)
        file.mktree("b", {"p": np.float64}).extend({"p": np.arange(3.0)})
    with pytest.raises(DataError, match=r"2 trees \('a', 'b'\); name the one to read with --tree"):
        raw_frame(tmp_path / "two.root", FEATURES)
    table, _ = raw_frame(tmp_path / "two.root", FEATURES, tree="a")
    assert len(table) == 10
    with pytest.raises(DataError, match=r"tree 'b': branch charge: needed by the model"):
        raw_frame(tmp_path / "two.root", FEATURES, tree="b")
    write(frame, tmp_path / "c.feather", "feather")
    with pytest.raises(ConfigError, match=r"--tree 'a': expected ROOT input, found feather"):
        raw_frame(tmp_path / "c.feather", FEATURES, tree="a")


def test_nan_in_a_root_feature_is_named_as_the_trees_branch(tmp_path):
    frame = rows(n=10)
    frame.loc[4, "eta"] = np.nan
    write(frame, tmp_path / "a.root", "ttree")
    with pytest.raises(
        DataError, match=r"a.root: tree 'tree': branch eta: 1 NaN value\(s\), first"
    ):
        raw_frame(tmp_path / "a.root", FEATURES)


def test_a_hostile_left_out_branch_name_is_listed_quoted_on_one_line(tmp_path):
    """Names come from the file: the terminal line shows them quoted and escaped (no
    newline, no terminal escape), at most 40 of them."""
    from study.data.sources import listed

    frame = rows(n=4)
    columns = {c: frame[c].to_numpy() for c in frame}
    columns["p<script>*/x"] = ak.Array([[1.0], [], [2.0, 3.0], [4.0]])
    write_root(tmp_path / "a.root", columns)
    _, left_out = raw_frame(tmp_path / "a.root", FEATURES)
    assert left_out == ["p<script>*/x"]
    assert listed(left_out) == "'p<script>*/x'"
    line = listed(["a\nb\x1b[31m", *[f"b{k}" for k in range(45)]])
    assert "\n" not in line and "\x1b" not in line
    assert line.startswith("'a\\nb\\x1b[31m', 'b0'") and line.endswith(", ... (46 in all)")
