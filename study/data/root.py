"""ROOT input through uproot: a file's trees (TTrees; RNTuples too, which uproot writes
by default), their branches, and the named branches read alone.

A branch prepare can read holds one number per entry. A jagged branch (a variable
number per entry: an std::vector, an array with a counter branch) or a fixed-size array
holds several; prepare refuses it with a one-line error that names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from study.data.sources import FileColumns, listed
from study.errors import DataError
from study.names import shown

TREE_CLASSES = ("TTree", "TNtuple", "TNtupleD", "ROOT::RNTuple")
JAGGED = " is jagged (variable length per entry); prepare reads one value per particle"


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


@contextmanager
def _opened(path: Path) -> Iterator:
    import uproot

    try:
        file = uproot.open(path)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a ROOT file ({_first_line(err)})") from None
    with file:
        yield file


def _trees(file) -> dict[str, str]:
    """Name (with its directories: dir/tree) -> class of every tree in the file."""
    return {k: c for k, c in file.classnames(cycle=False).items() if c in TREE_CLASSES}


def _no_tree(path: Path, tree: str, trees: dict[str, str]) -> DataError:
    found = f"trees found: {listed(list(trees))}" if trees else "the file holds no tree"
    return DataError(f"{path}: no tree {shown(tree)} (see --tree); {found}")


def choose_tree(path: Path, tree: str | None = None) -> str:
    """`tree` after checking the file holds it, or else the file's only tree."""
    with _opened(path) as file:
        trees = _trees(file)
        held = file.classnames(cycle=False)
    if tree is not None:
        if tree not in trees:
            raise _no_tree(path, tree, trees)
        return tree
    if len(trees) == 1:
        return next(iter(trees))
    if not trees:
        objects = listed([f"{k} ({c})" for k, c in held.items()]) or "nothing"
        raise DataError(f"{path}: no TTree in this file (it holds {objects})")
    raise DataError(
        f"{path}: {len(trees)} trees ({listed(list(trees))}); name the one to read with --tree"
    )


def _members(tree) -> dict:
    """Name -> branch of a TTree, or -> field of an RNTuple (the top-level ones)."""
    return {m.name: m for m in (tree.branches if hasattr(tree, "branches") else tree.fields)}


def _form(member, file):
    """The awkward-array form of a branch or field; None where uproot cannot read it."""
    try:
        if hasattr(member, "interpretation"):
            return member.interpretation.awkward_form(file.file)
        return member.to_akform()[0].contents[0]
    except Exception:  # an interpretation uproot lacks: the branch is no number
        return None


def _several(form) -> str | None:
    """Why a form holds numbers but not one a row (None: it holds one, or no number)."""
    from awkward import forms

    if isinstance(form, forms.ListOffsetForm | forms.ListForm):
        strings = form.parameters.get("__array__") in ("string", "bytestring")
        return None if strings else JAGGED
    if isinstance(form, forms.RegularForm):
        return f" holds {form.size} values per entry; prepare reads one value per particle"
    if isinstance(form, forms.NumpyForm) and form.inner_shape:
        size = int(np.prod(form.inner_shape))
        return f" holds {size} values per entry; prepare reads one value per particle"
    return None


def _one_number(form) -> bool:
    from awkward import forms

    number = ("bool", "int", "uint", "float")
    return (
        isinstance(form, forms.NumpyForm)
        and not form.inner_shape
        and form.primitive.startswith(number)
    )


def root_columns(path: Path, tree: str) -> FileColumns:
    """The branches of tree `tree` of one ROOT file, without reading their data."""
    with _opened(path) as file:
        trees = _trees(file)
        if tree not in trees:
            raise _no_tree(path, tree, trees)
        ntuple = file[tree]
        types, numeric, several = {}, set(), {}
        for name, member in _members(ntuple).items():
            types[name] = member.typename
            form = _form(member, file)
            if _one_number(form):
                numeric.add(name)
            elif (why := _several(form)) is not None:
                several[name] = why
        return FileColumns(Path(path), types, ntuple.num_entries, frozenset(numeric), several, tree)


def root_frame(path: Path, tree: str, columns: list[str]) -> pd.DataFrame:
    """Branches `columns` of tree `tree` (no other branch read), as a DataFrame."""
    with _opened(path) as file:
        members = _members(file[tree])
        data = {}
        for column in columns:
            try:
                data[column] = np.asarray(members[column].array(library="np"))
            except (OSError, ValueError) as err:
                raise DataError(
                    f"{path}: tree {shown(tree)}: branch {column}: not readable "
                    f"({_first_line(err)})"
                ) from None
    return pd.DataFrame(data, columns=columns)
