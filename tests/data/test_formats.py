"""prepare --input reads feather, parquet and ROOT (a TTree, or an RNTuple: what uproot
writes by default) alike: the same rows give the same prepared dataset, and each bad
input stops with one line naming file, tree, column and problem."""

import json

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot

from study.cli import main
from study.data.dataset import SPLITS, open_dataset
from study.data.feather import FeatherReader
from study.data.prepare import prepare_dataset

FEATURES = ["charge", "eta", "p", "phi"]


def raw_frame(n=700, seed=0):
    """float64, float32 and int32 columns: types every format stores as they are; in
    alphabetical order, the order uproot's RNTuple writer stores fields in."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "acceptance": rng.integers(0, 2, n).astype(np.float64),
            "charge": rng.choice(np.array([-1, 1], dtype=np.int32), n),
            "eta": rng.uniform(1.5, 5.5, n).astype(np.float32),
            "p": rng.lognormal(2.0, 1.0, n),
            "phi": rng.uniform(-np.pi, np.pi, n),
            "truth": rng.uniform(0, 1, n).astype(np.float32),
        }
    )


def write_root(path, columns: dict, tree="tree", rntuple=False):
    """A TTree (mktree, then extend) or, with `rntuple`, uproot's default RNTuple."""
    with uproot.recreate(path) as file:
        if rntuple:
            file[tree] = columns
        else:
            types = {
                k: v.type if isinstance(v, ak.Array) else np.dtype((v.dtype, v.shape[1:]))
                for k, v in columns.items()
            }
            file.mktree(tree, types).extend(columns)


def write(frame: pd.DataFrame, path, kind: str):
    if kind == "feather":
        frame.reset_index(drop=True).to_feather(path)
    elif kind == "parquet":
        # an index that is no range is stored as a column (__index_level_0__), not data
        frame.set_axis(pd.Index(frame.index.to_numpy() * 2)).to_parquet(path)
    else:
        write_root(path, {c: frame[c].to_numpy() for c in frame}, rntuple=kind == "rntuple")


SUFFIX = {"feather": "feather", "parquet": "parquet", "ttree": "root", "rntuple": "root"}


def prepare_from(tmp_path, kind: str, *flags: str):
    """Two files of one format (300 and 400 rows) prepared; returns the output path."""
    raw, frame = tmp_path / f"raw-{kind}", raw_frame()
    raw.mkdir()
    write(frame.iloc[:300], raw / f"a.{SUFFIX[kind]}", kind)
    write(frame.iloc[300:], raw / f"b.{SUFFIX[kind]}", kind)
    out = tmp_path / f"out-{kind}"
    argv = ["prepare", "--input", str(raw), "--output", str(out), "--extras", "truth", *flags]
    assert main(argv) == 0
    return out


def contents(out):
    """Every file of a prepared dataset: each split's rows and definitions, preprocessing."""
    splits = {s: FeatherReader(out / s).to_pandas() for s in SPLITS}
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    texts = {f: (out / f).read_text() for f in files if f.endswith(".json")}
    return splits, files, texts


@pytest.mark.parametrize("kind", ["parquet", "ttree", "rntuple"])
def test_the_same_rows_in_every_format_give_the_same_prepared_dataset(tmp_path, kind):
    reference = contents(prepare_from(tmp_path, "feather"))
    splits, files, texts = contents(prepare_from(tmp_path, kind))
    assert files == reference[1]
    assert texts == reference[2]  # definitions.json of each split, preprocessing.json
    for split in SPLITS:
        pd.testing.assert_frame_equal(splits[split], reference[0][split], check_exact=True)
    data = open_dataset(tmp_path / f"out-{kind}")
    assert data.features == FEATURES and data.preprocessing.flags == ["charge"]
    assert sum(len(splits[s]) for s in SPLITS) == 700
    assert sorted(np.unique(splits["train"]["charge"])) == [-1.0, 1.0]
    # the raw truth column is an extra: passed through as it was (float32)
    truth = np.sort(np.concatenate([splits[s]["truth"].to_numpy() for s in SPLITS]))
    np.testing.assert_array_equal(truth, np.sort(raw_frame()["truth"].to_numpy()))


def test_the_statistics_differ_only_in_where_the_rows_came_from(tmp_path):
    stats = {}
    for kind in ("feather", "ttree"):
        raw = tmp_path / f"{kind}.{SUFFIX[kind]}"
        write(raw_frame(), raw, kind)
        stats[kind] = prepare_dataset(raw, tmp_path / kind, extras=["truth"])
    assert stats["feather"].pop("input") == "1 feather file"
    assert stats["ttree"].pop("input") == "1 ROOT file, tree 'tree'"
    assert stats["feather"].pop("output") != stats["ttree"].pop("output")
    assert stats["feather"] == stats["ttree"]
    assert stats["ttree"]["rows"] == 700 and stats["ttree"]["features"] == FEATURES


@pytest.mark.parametrize("kind", ["feather", "parquet", "ttree"])
def test_features_names_the_columns_read_with_label_flags_and_extras(tmp_path, kind):
    out = prepare_from(tmp_path, kind, "--features", "phi,p", "--flags", "charge")
    data = open_dataset(out)
    assert data.features == ["phi", "p", "charge"] and data.preprocessing.flags == ["charge"]
    assert data.test.extras == ["truth"] and data.test.labels == ["acceptance"]
    assert list(data.test.to_pandas().columns) == ["phi", "p", "charge", "acceptance", "truth"]


def test_a_root_file_has_only_its_named_branches_read(tmp_path, monkeypatch):
    from uproot.behaviors.TBranch import TBranch

    read = []
    original = TBranch.array

    def spy(self, *args, **kwargs):
        read.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TBranch, "array", spy)
    columns = {c: raw_frame()[c].to_numpy() for c in raw_frame()}
    columns["hits"] = ak.Array([[1.0] * (k % 3) for k in range(700)])  # unread: no error
    write_root(tmp_path / "t.root", columns)
    prepare_dataset(tmp_path / "t.root", tmp_path / "out", features=["eta", "p"])
    # two passes (checks, then writing) over one file, each reading the three branches once
    assert sorted(read) == sorted(["eta", "p", "acceptance"] * 2)


def run_bad(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def prepare_bad(capsys, tmp_path, raw, *flags):
    out = tmp_path / "out"
    line = run_bad(capsys, ["prepare", "--input", str(raw), "--output", str(out), *flags])
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    return line


@pytest.mark.parametrize("kind", ["feather", "parquet", "ttree", "rntuple"])
def test_a_missing_column_is_named_with_those_the_file_has(capsys, tmp_path, kind):
    raw = tmp_path / f"f.{SUFFIX[kind]}"
    write(raw_frame()[["acceptance", "eta", "p"]], raw, kind)
    line = prepare_bad(capsys, tmp_path, raw, "--features", "p,pt")
    if kind in ("ttree", "rntuple"):
        where, has = f"{raw}: tree 'tree': branch pt", "the tree has branches acceptance, eta, p"
    else:
        where, has = f"{raw}: column pt", "the file has columns acceptance, eta, p"
    assert line == f"error: {where}: not found (see --features); {has}"


@pytest.mark.parametrize("kind", ["feather", "parquet", "ttree", "rntuple"])
def test_a_nan_and_a_label_outside_0_1_are_named_in_the_formats_own_words(capsys, tmp_path, kind):
    frame = raw_frame(n=20)
    frame.loc[7, "p"] = np.inf
    raw = tmp_path / f"f.{SUFFIX[kind]}"
    write(frame, raw, kind)
    at = f"{raw}: tree 'tree': branch" if kind in ("ttree", "rntuple") else f"{raw}: column"
    line = prepare_bad(capsys, tmp_path, raw, "--extras", "truth")
    assert line == f"error: {at} p: 1 infinite value(s), first at row 7"
    write(raw_frame(n=20).assign(acceptance=2.0), raw, kind)
    line = prepare_bad(capsys, tmp_path, raw, "--extras", "truth")
    assert line == f"error: {at} acceptance: labels must lie in [0, 1], found [2, 2]"


@pytest.mark.parametrize("rntuple", [False, True])
@pytest.mark.parametrize("features", [None, "p,hits"])
def test_a_jagged_branch_is_refused_naming_it(capsys, tmp_path, rntuple, features):
    hits = ak.Array([[1.0, 2.0], [], [3.0]] * 100)
    columns = {"p": np.arange(300.0), "hits": hits, "acceptance": np.ones(300)}
    write_root(tmp_path / "j.root", columns, rntuple=rntuple)
    flags = ["--features", features] if features else []
    line = prepare_bad(capsys, tmp_path, tmp_path / "j.root", *flags)
    jagged = (
        "branch hits is jagged (variable length per entry); prepare reads one value per particle"
    )
    assert line.startswith(f"error: {tmp_path / 'j.root'}: tree 'tree': {jagged}")
    assert line.endswith("(see --features)") == (features is None)
    prepare_dataset(tmp_path / "j.root", tmp_path / "ok", features=["p"])  # leaving it out
    assert open_dataset(tmp_path / "ok").features == ["p"]


def test_a_fixed_size_array_branch_is_refused_naming_its_size(capsys, tmp_path):
    columns = {"p": np.arange(300.0), "pos": np.zeros((300, 3)), "acceptance": np.ones(300)}
    write_root(tmp_path / "a.root", columns)
    line = prepare_bad(capsys, tmp_path, tmp_path / "a.root", "--features", "p,pos")
    assert line == (
        f"error: {tmp_path / 'a.root'}: tree 'tree': branch pos holds 3 values per entry; "
        "prepare reads one value per particle"
    )


@pytest.mark.parametrize("rntuple", [False, True])
def test_an_empty_tree_is_named_with_its_file(capsys, tmp_path, rntuple):
    empty = {c: np.zeros(0, dtype=t) for c, t in (("p", np.float64), ("acceptance", np.int32))}
    write_root(tmp_path / "e.root", empty, tree="DecayTree", rntuple=rntuple)
    line = prepare_bad(capsys, tmp_path, tmp_path / "e.root")
    assert line == f"error: {tmp_path / 'e.root'}: tree 'DecayTree' is empty (0 entries)"
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("x.root", "y.root"):
        write_root(raw / name, empty, tree="DecayTree", rntuple=rntuple)
    line = prepare_bad(capsys, tmp_path, raw)
    assert line == f"error: {raw}: tree 'DecayTree' is empty (0 entries) in all 2 files"


def test_several_trees_need_tree(capsys, tmp_path):
    path = tmp_path / "two.root"
    with uproot.recreate(path) as file:
        frame = raw_frame()
        file.mktree("DecayTree", {c: frame[c].dtype for c in frame}).extend(
            {c: frame[c].to_numpy() for c in frame}
        )
        file.mkdir("Lumi")
        file.mktree("Lumi/LumiTuple", {"lumi": np.float64}).extend({"lumi": np.ones(4)})
    line = prepare_bad(capsys, tmp_path, path)
    assert line == (
        f"error: {path}: 2 trees ('DecayTree', 'Lumi/LumiTuple'); name the one to read with --tree"
    )
    line = prepare_bad(capsys, tmp_path, path, "--tree", "Decaytree")
    assert line == (
        f"error: {path}: no tree 'Decaytree' (see --tree); trees found: 'DecayTree', "
        "'Lumi/LumiTuple'"
    )
    ok = tmp_path / "ok"
    assert main(["prepare", "--input", str(path), "--output", str(ok), "--tree", "DecayTree"]) == 0
    assert sum(getattr(open_dataset(ok), s).num_rows for s in SPLITS) == 700


def test_a_tree_missing_from_a_later_file_is_named(capsys, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    columns = {c: raw_frame()[c].to_numpy() for c in raw_frame()}
    write_root(raw / "a.root", columns, tree="DecayTree")
    write_root(raw / "b.root", columns, tree="Other")
    line = prepare_bad(capsys, tmp_path, raw)
    assert (
        line == f"error: {raw / 'b.root'}: no tree 'DecayTree' (see --tree); trees found: 'Other'"
    )


def test_a_mixed_directory_is_refused(capsys, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    write(raw_frame(), raw / "a.feather", "feather")
    write(raw_frame(), raw / "b.feather", "feather")
    write(raw_frame(), raw / "c.root", "ttree")
    line = prepare_bad(capsys, tmp_path, raw)
    assert line == (
        f"error: {raw}: mixed formats: 2 feather files (a.feather, ...), 1 ROOT file (c.root); "
        "prepare reads one format per directory"
    )


def test_bad_files_and_flags_are_one_line_errors(capsys, tmp_path):
    (tmp_path / "bad.root").write_text("px,py\n1,2\n" * 10)
    line = prepare_bad(capsys, tmp_path, tmp_path / "bad.root")
    assert line.startswith(f"error: {tmp_path / 'bad.root'}: not a ROOT file (not a ROOT file:")
    (tmp_path / "bad.parquet").write_text("px,py\n1,2\n")
    line = prepare_bad(capsys, tmp_path, tmp_path / "bad.parquet")
    assert line.startswith(f"error: {tmp_path / 'bad.parquet'}: not a parquet file (")
    (tmp_path / "raw.csv").write_text("px,py\n1,2\n")
    line = prepare_bad(capsys, tmp_path, tmp_path / "raw.csv")
    assert line.endswith("expected a .feather/.arrow, .parquet/.pq or .root file, found 'raw.csv'")
    write(raw_frame(), tmp_path / "f.feather", "feather")
    line = prepare_bad(capsys, tmp_path, tmp_path / "f.feather", "--tree", "t")
    assert line == "error: --tree 't': expected ROOT input, found feather"
    for features, problem in [
        ("p,p", "expected each column once, found 'p' twice"),
        ("p,acceptance", "column acceptance is the label or an extra, not a feature"),
        ("", "expected comma-separated column names, found none"),
    ]:
        line = prepare_bad(capsys, tmp_path, tmp_path / "f.feather", "--features", features)
        assert line == f"error: --features: {problem}"


def test_features_and_definitions_json_exclude_each_other(capsys, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    write(raw_frame(), raw / "a.parquet", "parquet")
    definitions = {"features": ["p", "eta"], "labels": ["acceptance"]}
    (raw / "definitions.json").write_text(json.dumps(definitions))
    line = prepare_bad(capsys, tmp_path, raw, "--features", "p")
    assert line == (
        f"error: --features: expected no definitions.json in {raw}, found one "
        "(it names the features too; drop one of the two)"
    )
    assert main(["prepare", "--input", str(raw), "--output", str(tmp_path / "ok")]) == 0
    assert open_dataset(tmp_path / "ok").features == ["p", "eta"]


@pytest.mark.parametrize("name", ["p<script>", "p*/x"])
def test_a_hostile_branch_name_is_refused_before_anything_is_written(capsys, tmp_path, name):
    """Branch names reach the C export, the report and the figures: a ROOT file's names go
    through the same check as a feather file's columns."""
    raw = tmp_path / "h.root"
    frame = raw_frame()
    write_root(raw, {"acceptance": frame["acceptance"].to_numpy(), name: frame["p"].to_numpy()})
    line = prepare_bad(capsys, tmp_path, raw)
    assert "not a safe column name" in line and line.startswith(f"error: {raw}: column ")
