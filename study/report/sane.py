"""What a record must hold for the report to show it: numbers where numbers belong,
objects and text where they belong. Records are data anyone with write access to the
results folder may have filled (study/report/collect.py skips what fails here, with a
warning naming the file). A trial's report.json is read by the store's rule
(TrialReport.from_dict, study/store/trial_report.py), shared with every other reader.

A kinematic bin ranks by `chi2_ndf`, whose meaning changed with issue item 7 (see
study/best/histograms.py): a bin of an older metrics.json, the one without `sparse`, is
rescored from its arrays where they are usable, so that no old exploding value is ranked."""

from __future__ import annotations

import logging
from pathlib import Path

from study.store.records import finite, number

log = logging.getLogger(__name__)
__all__ = ["finite", "number", "usable_bins"]


BIN_NUMBERS = ("p_low", "p_high", "chi2_ndf", "ndf", "efficiency_true", "efficiency_model")
BIN_ARRAYS = ("generated", "accepted", "weighted", "null_variance")  # what rescores a bin
BIN_TEXTS = ("particle", "variable")


def usable_bins(path: Path, bins: list | None) -> list[dict]:
    """The kinematic bins of metrics.json (FinalMetrics.kinematic_bins) whose figures are
    numbers and whose names are text; the others left out with a warning naming the file."""
    bins = bins or []
    usable = [
        m for m in bins
        if isinstance(m, dict) and all(number(m.get(k)) for k in BIN_NUMBERS)
        and all(isinstance(m.get(k), str) for k in BIN_TEXTS) and number(m.get("sparse", 0))
    ]  # fmt: skip
    if len(usable) < len(bins):
        log.warning("%s: %d kinematic bins with a field that is not a number (or a name that "
                    "is not text) left out", path, len(bins) - len(usable))  # fmt: skip
    return [rescored(m) for m in usable]


def rescored(m: dict) -> dict:
    """`m`, or, for a bin written before `sparse` existed, the bin with `chi2_ndf`, `ndf`
    and `sparse` computed again from its arrays (as it is where they are unusable)."""
    from study.best.histograms import agreement

    arrays = [m.get(k) for k in BIN_ARRAYS]
    if "sparse" in m or not all(isinstance(a, list) and all(map(finite, a)) for a in arrays):
        return m
    if len({len(a) for a in arrays}) != 1:
        return m
    chi2_ndf, ndf, sparse = agreement(*arrays)
    return {**m, "chi2_ndf": chi2_ndf, "ndf": ndf, "sparse": sparse}
