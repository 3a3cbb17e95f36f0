"""The compiled C's check and timing: the model card's `c` (`export_c`).

`check` judges the C by the network's own float32 arithmetic, not by a fixed tolerance:
on the test split's raw rows, rows outside the fitted range and every combination of the
flags (`check_rows`), the C is compared with the exact arithmetic (float64,
`c_reference.reference`) on every row, and with a float32 reference in the C's own
operation order (`c_reference.c_order_reference`) on the rows where it is farthest from
exact plus the first and last rows; it must agree with that reference within AGREEMENT.
Its distance from the exact arithmetic (which grows with depth, width and the weights) is
then the float32 network's own, and is recorded, as is its difference from the SavedModel.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from study import faults
from study.best import c_reference, c_source
from study.best.c_export import CLibrary, build, flops_per_particle
from study.errors import CCheckFailed, ExportError

log = logging.getLogger(__name__)

# |C - the float32 reference in its operation order| allowed: 16 ulps of 1.0. The two
# differ only where libm's and numpy's double tanh/erfc/exp/ndtri round a value to the
# other float (about one value in 10^8), moving one unit by one float ulp.
AGREEMENT = 2.0**-20
REFERENCE_ROWS = 2048  # rows at each end, and the C's worst rows, given the float32 reference
BLOCK_ROWS, EXTRA_ROWS = 64, 32_768  # check_rows' rows a block, and appended in all


def check_rows(pre, raw: np.ndarray, seed: int = 0) -> np.ndarray:
    """`raw` plus rows outside the fitted range (below the first and above the last
    quantile, and exactly at both) of every continuous feature, and every combination of
    the flags that occurs in `raw` (a particle is one species: a hadron that is also a
    muon is no input), each on copies of the first rows: BLOCK_ROWS of them, fewer where
    the blocks are many (about EXTRA_ROWS in all; one row a block beyond), so that a
    dataset of many flags keeps every combination without its check outgrowing its test
    split (14 flags: ~4,000 combinations, 64 rows each was 2.5 x the test rows)."""
    raw = np.asarray(raw, np.float32)
    flags = [pre.features.index(c) for c in pre.flags]
    combinations = np.unique(raw[:, flags], axis=0) if flags else []
    blocks = 5 * sum(c in pre.quantiles for c in pre.features) + len(combinations)
    base = raw[: min(len(raw), BLOCK_ROWS, max(1, EXTRA_ROWS // max(blocks, 1)))]
    extra = []
    for j, c in enumerate(pre.features):
        if c not in pre.quantiles:
            continue
        q = pre.quantiles[c]
        span = max(q[-1] - q[0], 1.0)
        for value in (q[0] - span, q[0], q[-1], q[-1] + span, q[-1] + 1e3 * span):
            rows = base.copy()
            rows[:, j] = value
            extra.append(rows)
    for combination in combinations:
        rows = base.copy()
        rows[:, flags] = combination
        extra.append(rows)
    return np.concatenate([raw, *extra]) if extra else raw


def check(export_dir: Path, raw: np.ndarray, model=None) -> dict:
    """The compiled C of `export_dir` on `raw` (check_rows) against the exact arithmetic
    on every row and the float32 reference in its operation order on the rows where it is
    farthest from exact and the first and last REFERENCE_ROWS (module docstring); raises
    ExportError, naming the worst row, unless they agree within AGREEMENT and the two
    entries agree exactly. Returns the figures (the SavedModel's difference recorded)."""
    from study.data.preprocessing import Preprocessing

    export_dir = Path(export_dir)
    if model is None:
        import keras

        model = keras.models.load_model(export_dir / "model.keras", safe_mode=True)
    pre = Preprocessing.load(export_dir / "preprocessing.json")
    library = CLibrary(export_dir)
    c_batch = library.predict(raw)
    c_one = np.array([library.predict_one(row) for row in raw[:1000]], np.float32)
    if faults.point("c-check"):  # a test's wrong C (study/faults.py)
        c_batch, c_one = c_batch + np.float32(1e-3), c_one + np.float32(1e-3)
    exact = c_reference.reference(model, pre, raw)
    c_error = np.abs(c_batch.astype(np.float64) - exact)
    picked = _reference_rows(c_error)
    float32 = c_reference.c_order_reference(model, pre, raw[picked])
    disagreement = np.abs(c_batch[picked] - float32)
    saved, against = c_reference.float32_reference(export_dir, raw, model)
    figures = {
        "rows": int(len(raw)),
        "c_max_error": float(c_error.max()) if len(raw) else 0.0,
        "reference_rows": int(len(picked)),
        "float32_max_error": float(np.abs(float32 - exact[picked]).max()) if len(raw) else 0.0,
        "max_abs_difference_from_reference": float(disagreement.max()) if len(raw) else 0.0,
        "agreement": AGREEMENT,
        "against": against,
        "max_abs_difference": float(np.abs(c_batch - saved).max()) if len(raw) else 0.0,
        "single_entry_max_abs_difference": float(np.max(np.abs(c_one - c_batch[:1000])))
        if len(raw) else 0.0,
        "activations": {a: c_source.ACCURACY[a] for a in c_source.activations_of(model)},
    }  # fmt: skip
    if not figures["max_abs_difference_from_reference"] <= AGREEMENT:
        worst = int(np.argmax(disagreement))
        row = int(picked[worst])
        raise ExportError(
            f"{export_dir}: the compiled C differs by {disagreement[worst]:.3g} (> "
            f"{AGREEMENT:.3g}) from the float32 arithmetic it implements at row {row} (raw "
            f"{raw[row].tolist()}: C {c_batch[row]:.7f}, float32 reference "
            f"{float32[worst]:.7f}, exact {exact[row]:.7f})"
        )
    if not figures["single_entry_max_abs_difference"] == 0.0:
        raise ExportError(f"{export_dir}: the one-particle and batch C entries differ")
    return figures


def _reference_rows(c_error: np.ndarray) -> np.ndarray:
    """The rows the float32 reference is computed on: the first and last REFERENCE_ROWS
    (the test rows and the out-of-range and flag rows check_rows appends) and the
    REFERENCE_ROWS where the C is farthest from the exact arithmetic."""
    n = len(c_error)
    worst = np.argsort(c_error)[-REFERENCE_ROWS:]
    ends = np.r_[0 : min(n, REFERENCE_ROWS), max(0, n - REFERENCE_ROWS) : n]
    return np.unique(np.concatenate([ends, worst]).astype(np.int64))


def export_c(
    model, pre, export_dir: Path, raw: np.ndarray, name: str, march: str = "baseline"
) -> dict:
    """Build, check and time the C of the export in `export_dir`: the model card's `c`.
    A failed check raises CCheckFailed with the record (the figures and the message)."""
    record = build(model, pre, export_dir, name, march)
    record["flops_per_particle"] = flops_per_particle(model)
    if not record["compiled"]:
        return record
    rows = check_rows(pre, raw)
    try:
        record["check"] = check(export_dir, rows, model)
    except ExportError as err:
        record.update(check_failed=str(err))
        raise CCheckFailed(str(err), record) from None
    library = CLibrary(export_dir)
    begin = time.perf_counter()
    library.predict(rows)
    record["batch_ns_per_particle"] = (time.perf_counter() - begin) * 1e9 / len(rows)
    single = rows[:1000]
    begin = time.perf_counter()
    for row in single:
        library.predict_one(row)
    record["single_ns_per_particle"] = (time.perf_counter() - begin) * 1e9 / len(single)
    log.info(
        "C export checked (%s): on %d rows (%d outside the fitted range or flag "
        "combinations) %.2e from the exact arithmetic, %.2e from its float32 reference "
        "(<= %.2g), %.2e from the %s; %.0f ns a particle in batches, %.0f ns one particle a "
        "call (ctypes included)",
        record["target"], len(rows), len(rows) - len(raw), record["check"]["c_max_error"],
        record["check"]["max_abs_difference_from_reference"], AGREEMENT,
        record["check"]["max_abs_difference"], record["check"]["against"],
        record["batch_ns_per_particle"], record["single_ns_per_particle"],
    )  # fmt: skip
    return record
