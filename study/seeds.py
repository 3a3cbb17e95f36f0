"""Every seed of a study, derived from its one `seed` (StudyConfig.seed) here and nowhere else.

- the oracle's: seed + 1 (keras-tuner treats seed 0 as "no seed"); a rebuilt oracle
  moves on to a fresh part of its stream (`rebuilt_oracle_seed`);
- an Optuna sampler's, reseeded from the oracle's and the trials it knows at each ask;
- each trial's initialisation and shuffling: seed x 100,003 + the trial's number;
- the trials' subsample of the splits and the final fit: the study seed itself.
"""

from __future__ import annotations

TRIAL_STRIDE = 100_003


def oracle_seed(study_seed: int) -> int:
    return study_seed + 1


def rebuilt_oracle_seed(oracle_seed: int, trials: int) -> int:
    """The oracle's stream after it was rebuilt from `trials` trial files."""
    return oracle_seed + 1000 * trials


def sampler_seed(oracle_seed: int, trials: int) -> int:
    """An Optuna sampler's seed once the study holds `trials` trials."""
    return (oracle_seed * 1_000_003 + 7_919 * trials) % 2**31


def trial_seed(study_seed: int, trial_id: str) -> int:
    """Trial `trial_id`'s initialisation and shuffling. keras-tuner's ids are the trial's
    number, zero-padded; any other id is refused (a seed must reproduce)."""
    if not str(trial_id).isdigit():
        raise ValueError(f"trial id {trial_id!r}: expected the trial's number (digits)")
    return study_seed * TRIAL_STRIDE + int(trial_id)


def sample_seed(study_seed: int) -> int:
    """The subsample every trial of the study trains and validates on."""
    return study_seed


def final_fit_seed(study_seed: int) -> int:
    """The final fit's initialisation (from scratch) and shuffling."""
    return study_seed
