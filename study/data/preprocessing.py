"""Quantile transform of continuous features to a standard normal, flags passed through.

Fitted on the training split only and stored as plain JSON (`preprocessing.json`):
for each continuous column the sorted quantiles at fixed reference levels. The
forward map interpolates the empirical CDF and applies the normal quantile
function; the inverse does the reverse, so values inside the fitted range
survive a round trip to float precision.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from study.errors import DataError

VERSION = 1
CLIP = 1e-7  # CDF values are kept inside [CLIP, 1 - CLIP]: about +-5.2 sigma


@dataclass
class Preprocessing:
    """Per-column transforms; `quantiles[c]` is set for continuous columns only."""

    features: list[str]
    flags: list[str]
    references: list[float] = field(default_factory=list)
    quantiles: dict[str, list[float]] = field(default_factory=dict)

    @property
    def continuous(self) -> list[str]:
        return [c for c in self.features if c not in self.flags]

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, features: list[str], flags: list[str], n_quantiles: int = 1000
    ) -> Preprocessing:
        """Fit the quantiles of every continuous column of `frame` (the training split)."""
        references = np.linspace(0.0, 1.0, n_quantiles)
        quantiles = {
            c: np.quantile(frame[c].to_numpy(np.float64), references).tolist()
            for c in features
            if c not in flags
        }
        return cls(list(features), list(flags), references.tolist(), quantiles)

    def _forward(self, column: str, x: np.ndarray) -> np.ndarray:
        q, r = np.asarray(self.quantiles[column]), np.asarray(self.references)
        u = np.interp(x, q, r)
        if np.any(np.diff(q) <= 0):
            # ties: average the increasing and decreasing interpolations, as scikit-learn does
            u = 0.5 * (u - np.interp(-x, -q[::-1], -r[::-1]))
        return special.ndtri(np.clip(u, CLIP, 1.0 - CLIP))

    def _inverse(self, column: str, z: np.ndarray) -> np.ndarray:
        q, r = np.asarray(self.quantiles[column]), np.asarray(self.references)
        return np.interp(special.ndtr(z), r, q)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Features of `frame` in the network's coordinates (other columns untouched)."""
        out = frame.copy()
        # np.interp releases the GIL: columns run in parallel threads
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            columns = pool.map(
                lambda c: self._forward(c, frame[c].to_numpy(np.float64)).astype(np.float32),
                self.continuous,
            )
            for c, values in zip(self.continuous, columns, strict=True):
                out[c] = values
        for c in self.flags:
            out[c] = frame[c].to_numpy().astype(np.float32)
        return out

    def inverse_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Features back in physical units (other columns untouched)."""
        out = frame.copy()
        for c in self.continuous:
            out[c] = self._inverse(c, frame[c].to_numpy(np.float64))
        return out

    def to_dict(self) -> dict:
        return {
            "version": VERSION,
            "method": "quantile-normal",
            "features": self.features,
            "flags": self.flags,
            "references": self.references,
            "quantiles": self.quantiles,
        }

    def save(self, path: Path) -> None:
        from study.store.atomic import write_json_atomic

        write_json_atomic(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: Path) -> Preprocessing:
        """Read `preprocessing.json`; a malformed file raises DataError naming it."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
            pre = cls(raw["features"], raw["flags"], raw["references"], raw["quantiles"])
        except FileNotFoundError:
            raise DataError(f"{path}: file not found") from None
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(f"{path}: not a valid preprocessing file ({err!r})") from None
        missing = [c for c in pre.continuous if c not in pre.quantiles]
        if missing:
            raise DataError(f"{path}: column {missing[0]}: no quantiles stored for it")
        return pre
