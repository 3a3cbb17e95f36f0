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
    max_epochs=2,
    patience_1=1,
    patience_2=1,
    default_rows=20_000,
    narrowed={"width": "16:64", "n_blocks": "1:4"},
    fixed={"batch_size": 1024},
)


def study_tuner(config, tuner_class=None):
    """A ready tuner (and its dataset) for `config`, as the CLI's study command builds it."""
    from study.search import tuner as tuner_module
    from study.search.hypermodel import AcceptanceHyperModel
    from study.store.study_file import check_or_create, load_dataset

    config.check()
    dataset = load_dataset(config)
    check_or_create(config, dataset, overwrite=False)
    hypermodel = AcceptanceHyperModel(len(dataset.features), config.search_space())
    tuner_class = tuner_class or tuner_module.AcceptanceTuner
    return tuner_class(tuner_module.make_oracle(config), hypermodel, config), dataset


def train_values(values: dict, train, validation, seed: int, callbacks=None, **schedule):
    """Build the network of `values` (seeded) and train both phases: (model, result)."""
    import keras

    from study.training.network import build_from_values, make_optimizer
    from study.training.schedule import TwoPhaseSchedule, train_two_phase

    keras.utils.set_random_seed(seed)
    model = build_from_values(train[0].shape[1], values)
    result = train_two_phase(
        model,
        lambda lr: make_optimizer(values["optimizer"], lr),
        TwoPhaseSchedule.from_values(values, **schedule),
        train,
        validation,
        int(values["batch_size"]),
        callbacks=callbacks,
    )
    return model, result
