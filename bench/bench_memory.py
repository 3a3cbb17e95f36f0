"""Resident memory across a study: RSS after trial 1 and after trial N (default 30).

Small trials (width 16-64, 1-4 blocks, 2 epochs per phase) on 20k generated rows.
- ours: the study's process, whose trials train in child processes;
- baseline: the same two-phase training of the same number of models in one
  process with `clear_session()` between them (what keras-tuner does).
Target: growth < 200 MB over 30 trials.

    python bench/bench_memory.py [--trials 30] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

from common import SMALL_STUDY, emit, study_tuner


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def in_process_growth(dataset, trials: int) -> tuple[float, float]:
    """RSS after model 1 and after model `trials`, all trained in this process."""
    import gc

    import keras

    from study.training.network import build_network, make_optimizer
    from study.training.phase_logic import ScheduleSettings, TwoPhaseSchedule
    from study.training.schedule import train_two_phase

    train, validation = dataset.train.to_numpy(), dataset.validation.to_numpy()
    rss = []
    for k in range(trials):
        keras.backend.clear_session()
        gc.collect()
        model = build_network(train[0].shape[1], 16 + k, 1 + k % 4)
        settings = ScheduleSettings(
            3e-3, 0.1, patience_1=1, patience_2=1, max_epochs_1=2, max_epochs_2=2
        )
        schedule = TwoPhaseSchedule(settings)
        train_two_phase(
            model, lambda lr: make_optimizer("adam", lr), schedule, train, validation, 1024
        )
        rss.append(rss_mb())
    return rss[0], rss[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="seconds-long self-check (2 trials)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    trials = 2 if args.quick else args.trials

    from study.config import StudyConfig
    from study.search import loop

    rss: list[float] = []

    with tempfile.TemporaryDirectory() as tmp:
        config = StudyConfig(results=tmp, trials=trials, **SMALL_STUDY)
        tuner, dataset = study_tuner(config)
        trial_end = tuner.on_trial_end  # measured after each trial's end

        def on_trial_end(trial):
            trial_end(trial)
            rss.append(rss_mb())

        tuner.on_trial_end = on_trial_end
        before = rss_mb()
        loop.search(tuner)
        children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        base_first, base_last = in_process_growth(dataset, trials)
    figures = {
        "trials": len(rss),
        "rss_before_mb": before,
        "rss_after_trial_1_mb": rss[0],
        f"rss_after_trial_{len(rss)}_mb": rss[-1],
        "growth_mb": rss[-1] - rss[0],
        "growth_per_trial_mb": (rss[-1] - rss[0]) / max(len(rss) - 1, 1),
        "trial_process_peak_mb": children_peak,
        "baseline_rss_after_model_1_mb": base_first,
        "baseline_rss_after_last_model_mb": base_last,
        "baseline_growth_mb": base_last - base_first,
    }
    emit(figures, args.json)


if __name__ == "__main__":
    main()
