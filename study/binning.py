"""The kinematic binning of the validation: which variables are histogrammed, in which
slices of which column, per which species flag.

The default is LHCb's (the notebook's): eta and phi, in momentum slices of 0.5-200
GeV/c (the data hold log10 of p in MeV), per hadron, muon and electron flag. A user's
dataset with other names sets its own, as a JSON object in the study's config
(`validation_bins`) or with `--validation-bins` (a JSON file or inline JSON):

    {"slice": {"column": "pt", "edges": [0, 1, 2, 5, 20], "label": "pT [GeV/c]"},
     "variables": {"eta": [-2.5, 2.5, 20]},
     "species": {"pion": "is_pi", "kaon": "is_k"}}

`species` may be empty (all rows, one species "all"); `slice.transform` maps the
column to the edges' units: "none" (default) or "log10_mev_to_gev" (10**(x - 3)).
Species and variable names become figure file names (`<species>_<variable>.png`):
letters, digits and `_ . -` only, not starting with a dot (study/names.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.errors import ConfigError
from study.names import file_name_problem, shown

TRANSFORMS = {"none": lambda x: x, "log10_mev_to_gev": lambda x: 10.0 ** (x - 3.0)}


@dataclass(frozen=True)
class BinningSpec:
    slice_column: str
    slice_edges: tuple[float, ...]
    variables: dict  # name -> (low, high, bins)
    species: dict  # name -> flag column (> 0.5: of that species); {}: all rows
    slice_transform: str = "none"
    slice_label: str = ""

    @classmethod
    def from_dict(cls, raw: dict, source: str = "validation_bins") -> BinningSpec:
        """The spec of a JSON object; ConfigError naming what is wrong."""
        try:
            part = raw["slice"]
            edges = tuple(float(e) for e in part["edges"])
            variables = {
                str(k): (float(v[0]), float(v[1]), int(v[2])) for k, v in raw["variables"].items()
            }
            spec = cls(
                str(part["column"]), edges, variables,
                {str(k): str(v) for k, v in raw.get("species", {}).items()},
                str(part.get("transform", "none")), str(part.get("label", part["column"])),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            raise ConfigError(
                f"{source}: expected {{'slice': {{'column', 'edges'}}, 'variables': "
                f"{{name: [low, high, bins]}}, 'species': {{name: flag}}}}, failed at {err!r}"
            ) from None
        if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise ConfigError(f"{source}: slice edges must increase, found {list(edges)}")
        if spec.slice_transform not in TRANSFORMS:
            raise ConfigError(
                f"{source}: slice transform: expected one of {', '.join(TRANSFORMS)}, "
                f"found {spec.slice_transform!r}"
            )
        for kind, names in (("species", spec.species), ("variable", variables)):
            for name in names:  # each becomes part of a figure's file name
                if file_name_problem(name):
                    raise ConfigError(f"{source}: {kind} {shown(name)}: {file_name_problem(name)}")
        bad = [k for k, (lo, hi, n) in variables.items() if not (hi > lo and n >= 1)]
        if not variables or bad:
            raise ConfigError(f"{source}: variables need low < high and bins >= 1 ({bad})")
        return spec

    def to_dict(self) -> dict:
        return {
            "slice": {
                "column": self.slice_column, "edges": list(self.slice_edges),
                "transform": self.slice_transform, "label": self.slice_label,
            },
            "variables": {k: list(v) for k, v in self.variables.items()},
            "species": dict(self.species),
        }  # fmt: skip

    def columns(self) -> set[str]:
        return {self.slice_column, *self.variables, *self.species.values()}

    def slice_values(self, column: np.ndarray) -> np.ndarray:
        return TRANSFORMS[self.slice_transform](np.asarray(column, float))

    def edges(self, variable: str) -> np.ndarray:
        lo, hi, n = self.variables[variable]
        return np.linspace(lo, hi, n + 1)


LHCB = BinningSpec(
    slice_column="mc_log10_p",
    slice_edges=(0.5, 3.0, 5.0, 10.0, 30.0, 100.0, 200.0),
    variables={"mc_eta": (1.5, 5.5, 20), "mc_phi": (-math.pi, math.pi, 20)},
    species={"hadron": "mc_is_h", "muon": "mc_is_mu", "electron": "mc_is_e"},
    slice_transform="log10_mev_to_gev",
    slice_label="p [GeV/c]",
)


def spec_of(raw: dict | BinningSpec | None) -> BinningSpec:
    """The spec of a config's `validation_bins` ({} or None: LHCb's)."""
    if isinstance(raw, BinningSpec):
        return raw
    return BinningSpec.from_dict(raw) if raw else LHCB


def parse_flag(text: str) -> dict:
    """--validation-bins: a JSON file or an inline JSON object, checked."""
    path = Path(text)
    source = str(path) if path.is_file() else "--validation-bins"
    try:
        raw = json.loads(path.read_text() if path.is_file() else text)
    except ValueError as err:
        raise ConfigError(f"{source}: not a JSON file or object ({err})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a JSON object")
    BinningSpec.from_dict(raw, source)
    return raw
