"""The zoo: generated datasets with a known true acceptance probability, spanning what users
bring (`python run_study.py generate --profile NAME`).

Every profile draws the particles of study/data/synthetic.py and changes one thing:

- default: the embedded sample itself (12 features, 4 of them flags);
- small: the same physics, 50,000 rows by default;
- large: the same physics, 10 M rows by default, written in chunks;
- few: 6 features (origin, log10 p, slopes): species and charge are hidden, so the truth
  given the features is the average over them;
- many: 30 features: the 12 and 18 more, 8 irrelevant (noise the truth does not depend on)
  and 10 derived from the 12 (correlated, some smeared);
- rare: a trigger-like efficiency, steep in momentum, times the acceptance: ~3 % accepted;
- sharp / smooth: every resolution of the detector x 0.2 / x 4 (sharper / smoother
  boundaries);
- flags: 8 dead-module flags (each kills 60 % of the acceptance in its phi octant) and 2
  irrelevant flags besides the 4: 14 flags among 22 features.

`TRUTH` (`true_probability`) is the exact probability given the features a profile keeps;
the label is Bernoulli(TRUTH). `binning` is the kinematic binning that fits the profile's
columns (study/binning.py), written by `generate` beside the dataset.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from scipy import special

from study.binning import LHCB
from study.data import synthetic
from study.data.synthetic import FEATURES, FLAGS, LABEL, TRUTH


@dataclass(frozen=True)
class Profile:
    name: str
    rows: int  # `generate`'s default row count
    features: list[str]
    flags: list[str]
    truth: Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]  # adds columns, TRUTH
    binning: dict  # the kinematic binning of its columns (study/binning.py)
    about: str


def _physics(smear: float = 1.0):
    def truth(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        frame[TRUTH] = synthetic.true_probability(frame, smear)
        return frame

    return truth


FEW = ["mc_x", "mc_y", "mc_z", "mc_log10_p", "mc_tx", "mc_ty"]
# species classes of the flags (is_e, is_mu, is_h) with their shares (synthetic.SPECIES)
CLASSES = {(1.0, 0.0, 0.0): 0.07, (0.0, 1.0, 0.0): 0.03, (0.0, 0.0, 1.0): 0.90}


def _hidden_species(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The truth given the 6 kept features: the average over the hidden species and charge."""
    total = np.zeros(len(frame))
    for (e, mu, h), share in CLASSES.items():
        for charge in (-1.0, 1.0):
            probe = frame.assign(mc_is_e=e, mc_is_mu=mu, mc_is_h=h, mc_charge=charge)
            total += 0.5 * share * synthetic.true_probability(probe)
    frame[TRUTH] = total
    return frame


NOISE = [f"noise_{k}" for k in range(8)]
DERIVED = [
    "mc_p_gev", "mc_pt_gev", "mc_theta", "mc_rho", "mc_cos_phi", "mc_sin_phi",
    "mc_eta_smeared", "mc_z_smeared", "mc_tx_plus_ty", "mc_log10_pt",
]  # fmt: skip


def _many(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """18 more columns: 8 of noise, 10 functions of the 12 (some smeared); the truth is the
    default's (it depends on none of them beyond the 12)."""
    n = len(frame)
    noise = [rng.normal(0, 1, n), rng.uniform(-1, 1, n), rng.exponential(1.0, n),
             rng.normal(5, 3, n), rng.lognormal(0, 1, n), rng.standard_t(3, n),
             rng.integers(0, 2, n).astype(float), rng.integers(0, 3, n).astype(float)]  # fmt: skip
    p = 10.0 ** (frame["mc_log10_p"] - 3.0)
    theta = 2.0 * np.arctan(np.exp(-frame["mc_eta"]))
    derived = [p, p * np.sin(theta), theta, np.hypot(frame["mc_x"], frame["mc_y"]),
               np.cos(frame["mc_phi"]), np.sin(frame["mc_phi"]),
               frame["mc_eta"] + rng.normal(0, 0.1, n), frame["mc_z"] + rng.normal(0, 20, n),
               frame["mc_tx"] + frame["mc_ty"], np.log10(p * np.sin(theta))]  # fmt: skip
    for name, values in zip(NOISE + DERIVED, noise + derived, strict=True):
        frame[name] = np.asarray(values, float)
    return _physics()(frame, rng)


# the trigger: an efficiency rising with momentum (log10 p in MeV), at most TRIGGER_MAX
TRIGGER_MAX, TRIGGER_AT, TRIGGER_WIDTH = 0.6, 4.6, 0.12


def _rare(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    rise = special.ndtr((frame["mc_log10_p"].to_numpy() - TRIGGER_AT) / TRIGGER_WIDTH)
    frame[TRUTH] = synthetic.true_probability(frame) * TRIGGER_MAX * rise
    return frame


DEAD = [f"dead_module_{k}" for k in range(8)]
IDLE = ["run_flag_a", "run_flag_b"]
DEAD_SHARE, DEAD_LOSS = 0.25, 0.6  # each module dead in a quarter of the rows; 60 % lost


def _flags(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """8 dead-module flags (module k covers phi octant k: its flag removes DEAD_LOSS of the
    acceptance there) and 2 flags the truth ignores."""
    n = len(frame)
    octant = np.clip(((frame["mc_phi"].to_numpy() + np.pi) / (np.pi / 4)).astype(int), 0, 7)
    dead = rng.random((n, len(DEAD))) < DEAD_SHARE
    for k, name in enumerate(DEAD):
        frame[name] = dead[:, k].astype(float)
    for name in IDLE:
        frame[name] = (rng.random(n) < 0.3).astype(float)
    frame[TRUTH] = synthetic.true_probability(frame) * (
        1.0 - DEAD_LOSS * dead[np.arange(n), octant]
    )
    return frame


FEW_BINNING = {
    "slice": {"column": "mc_log10_p", "edges": [0.5, 3.0, 10.0, 30.0, 200.0],
              "transform": "log10_mev_to_gev", "label": "p [GeV/c]"},
    "variables": {"mc_tx": [-0.3, 0.3, 20], "mc_ty": [-0.3, 0.3, 20]},
    "species": {},
}  # fmt: skip
DEFAULT_BINNING = LHCB.to_dict()

PROFILES = {
    p.name: p
    for p in (
        Profile("default", 2_500_000, FEATURES, FLAGS, _physics(), DEFAULT_BINNING,
                "the embedded sample (12 features, 4 flags)"),
        Profile("small", 50_000, FEATURES, FLAGS, _physics(), DEFAULT_BINNING,
                "the embedded sample's physics, 50,000 rows"),
        Profile("large", 10_000_000, FEATURES, FLAGS, _physics(), DEFAULT_BINNING,
                "the embedded sample's physics, 10 M rows"),
        Profile("few", 500_000, FEW, [], _hidden_species, FEW_BINNING,
                "6 features, species and charge hidden"),
        Profile("many", 500_000, FEATURES + NOISE + DERIVED, FLAGS + NOISE[6:], _many,
                DEFAULT_BINNING, "30 features: 8 irrelevant, 10 correlated"),
        Profile("rare", 500_000, FEATURES, FLAGS, _rare, DEFAULT_BINNING,
                "~3 % accepted (a steep trigger efficiency)"),
        Profile("sharp", 500_000, FEATURES, FLAGS, _physics(0.2), DEFAULT_BINNING,
                "resolutions x 0.2: sharp boundaries"),
        Profile("smooth", 500_000, FEATURES, FLAGS, _physics(4.0), DEFAULT_BINNING,
                "resolutions x 4: smooth boundaries"),
        Profile("flags", 500_000, FEATURES + DEAD + IDLE, FLAGS + DEAD + IDLE, _flags,
                DEFAULT_BINNING, "22 features, 14 of them flags (dead modules)"),
    )
}  # fmt: skip


def generate_chunk(profile: Profile, rng: np.random.Generator, n: int) -> pd.DataFrame:
    """`n` rows of `profile`: its features, TRUTH and the Bernoulli label."""
    frame = profile.truth(pd.DataFrame(synthetic._kinematics(rng, n)), rng)
    frame[TRUTH] = np.clip(frame[TRUTH].to_numpy(np.float64), 0.0, 1.0)
    frame[LABEL] = (rng.random(n) < frame[TRUTH].to_numpy()).astype(np.float64)
    return frame[[*profile.features, TRUTH, LABEL]]


def generate(
    profile: Profile, n_rows: int, seed: int = 0, chunk_size: int = 500_000
) -> Iterator[pd.DataFrame]:
    """Yield `n_rows` rows of `profile` in chunks (bounded memory); the "default" profile
    yields exactly synthetic.generate's sample."""
    if profile.name == "default":
        yield from synthetic.generate(n_rows, seed, chunk_size)
        return
    entropy = [seed, zlib.crc32(profile.name.encode())]
    yield from synthetic.chunked(n_rows, entropy, chunk_size, partial(generate_chunk, profile))
