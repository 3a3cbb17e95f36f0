"""Data-layer throughput: `generate` and `prepare`, end to end, rows per second.

- generate: the physics, the split, the preprocessing fit and transform, the
  feather files (`generate_dataset`);
- prepare:  the same rows written first as raw feather files, then split,
  checked, preprocessed and written (`prepare_dataset`);
- copy:     pyarrow reading and rewriting the raw files unchanged, the I/O limit.

    python bench/bench_data.py [--rows 2000000] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow.feather as pf
from common import emit

from study.data import synthetic
from study.data.prepare import generate_dataset, prepare_dataset


def rate(rows: int, fn) -> float:
    start = time.perf_counter()
    fn()
    return rows / (time.perf_counter() - start)


def write_raw(rows: int, directory: Path) -> None:
    directory.mkdir()
    for k, frame in enumerate(synthetic.generate(rows, seed=5)):
        frame.astype("float32").to_feather(directory / f"raw-{k:03d}.feather")


def copy_raw(source: Path, target: Path) -> None:
    target.mkdir()
    for path in sorted(source.glob("*.feather")):
        pf.write_feather(pf.read_table(path), target / path.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--quick", action="store_true", help="seconds-long self-check")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        figures = {"rows": rows}
        figures["generate_rows_per_s"] = rate(rows, lambda: generate_dataset(rows, tmp / "gen"))
        write_raw(rows, tmp / "raw")
        figures["prepare_rows_per_s"] = rate(
            rows, lambda: prepare_dataset(tmp / "raw", tmp / "prep", extras=[synthetic.TRUTH])
        )
        figures["copy_rows_per_s"] = rate(rows, lambda: copy_raw(tmp / "raw", tmp / "copy"))
    figures["prepare_over_copy"] = figures["prepare_rows_per_s"] / figures["copy_rows_per_s"]
    figures["generate_over_prepare"] = (
        figures["generate_rows_per_s"] / figures["prepare_rows_per_s"]
    )
    emit(figures, args.json)


if __name__ == "__main__":
    main()
