"""Tiny-study flags shared by the tests and the benches' quick runs.

A tiny study trains 8-wide, 1-block networks for a few epochs: seconds a trial on
two cores, enough to exercise every stage without measuring anything.
"""

from __future__ import annotations

TINY_NETWORK = ["--fix", "width=8", "--fix", "n_blocks=1", "--fix", "batch_size=512"]
STABLE_RATES = ["--narrow", "learning_rate=0.003:0.03"]  # no trial lost to a tiny rate


def tiny(
    max_epochs: int = 3, *, stable: bool = True, retrain_epochs: int | None = None,
    tuner: str | None = "random",
) -> list:  # fmt: skip
    """Flags of a tiny study: random search (one trial, both phases: what most tests
    count), the tiny network, `max_epochs` a phase, patience 1 and 1, the final fit with
    the trial's recipe."""
    flags = [*(["--tuner", tuner] if tuner else []), *TINY_NETWORK]
    flags += STABLE_RATES if stable else []
    flags += ["--max-epochs", str(max_epochs), "--patience-1", "1", "--patience-2", "1"]
    # the full-data recipe (Adam 2e-3 at batch 2048) needs hundreds of epochs of a few
    # thousand rows (two steps an epoch) to stop by patience; tests/best/test_continuation.py
    # runs it explicitly
    flags += ["--retrain-recipe", "trial"]
    if retrain_epochs is not None:
        flags += ["--retrain-max-epochs", str(retrain_epochs)]
    return flags


def study_argv(data, results, trials: int, *extra, name: str = "s", flags=None) -> list:
    """The command line of a tiny study `name` of `trials` trials (no report by default)."""
    flags = ["--no-report", *tiny()] if flags is None else flags
    return [
        "--trials", str(trials), "--data", str(data), "--results", str(results),
        "--study", name, *flags, *extra,
    ]  # fmt: skip
