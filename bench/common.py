"""What every benchmark does at its end: print the figures, write them as flat JSON."""

from __future__ import annotations

import json
from pathlib import Path


def emit(figures: dict, json_path: Path | None) -> None:
    width = max(len(k) for k in figures) + 2
    for key, value in figures.items():
        text = f"{value:,.2f}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}} {text}")
    if json_path:
        Path(json_path).write_text(json.dumps(figures, indent=2) + "\n")


# The small trials of the memory and overhead benches: width 16-64, 1-4 blocks,
# 2 epochs a phase, on 20,000 generated rows.
SMALL_STUDY = dict(
    tuner="random",
    max_epochs=2,
    patience_1=1,
    patience_2=1,
    default_rows=20_000,
    narrowed={"width": "16:64", "n_blocks": "1:4"},
    fixed={"batch_size": 1024},
)


def study_tuner(config):
    """A ready tuner (and its dataset) for `config`, as the CLI's study command builds it."""
    from study.data.prepare import load_dataset
    from study.search import loop
    from study.store.study_file import check_or_create

    config.check()
    dataset = load_dataset(config)
    check_or_create(config, dataset, overwrite=False)
    return loop.make_tuner(config, len(dataset.features)), dataset


def train_values(values: dict, train, validation, seed: int, callbacks=None, **schedule):
    """Build the network of `values` (seeded) and train both phases: (model, result)."""
    from study.testing.inspect import fit_from_values

    return fit_from_values(values, train, validation, seed, callbacks, **schedule)
