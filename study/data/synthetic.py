"""An LHCb-like acceptance problem whose true acceptance probability is known.

Every generated particle gets generator-level features and the closed-form
probability ``true_probability`` that it is reconstructed inside the tracking
acceptance; the label ``acceptance`` is drawn as Bernoulli(true_probability).
The Bayes cross-entropy E[-p ln p - (1-p) ln(1-p)] is then the floor no model
can beat, and the gap to it measures a model.

The physics (units: mm, GeV; the feature ``mc_log10_p`` is log10(p / MeV)):

1. Species, hidden from the features: pi 70 %, K 14 %, p 6 % (flag ``mc_is_h``),
   mu 3 % (``mc_is_mu``), e 7 % (``mc_is_e``); charge +-1 with equal odds.
   Kinematics do not depend on the species within a flag class, so the truth
   given the features is the species-average of the per-species probability.
2. Origin: 85 % prompt (x, y ~ N(0, 0.05), z ~ N(0, 50)); 15 % displaced
   (x, y ~ N(0, 4), z ~ N(0, 50) + Exp(120)).
3. Direction: eta ~ U(1.0, 6.5), phi ~ U(-pi, pi); slopes tx, ty from them.
4. Momentum: pT ~ Gamma(2, 0.35 GeV), p = max(pT cosh(eta), 0.2 GeV).
5. Vertex detector: the origin must be inside the VELO,
   Phi((z + 300) / 20) Phi((500 - z) / 20) Phi((8 - rho) / 1), rho = sqrt(x^2 + y^2).
6. Magnet: a window |x| < 1600, |y| < 1300 at its centre z = 5300 (smeared
   by half the stations' width), where the x slope is kicked by
   charge * 1.2 GeV / p; straight lines before and after; tracking stations at
   z = 9000.
7. Aperture at the stations: |x| < 3000, |y| < 2500, outside the beam-pipe
   hole |x| < 150, |y| < 150, with Gaussian multiple-scattering smearing of
   width 30 mm GeV / p in x and y; the box probabilities are products of erf
   differences.
8. Survival: decay in flight exp(-m L / (p c tau)) over the path length L to
   the stations (pi, K; mu and e stable here), and hadronic interactions
   exp(-0.04 (1 + 0.5 / p) / f_s) with f_s = 1 (pi), 1.1 (K), 0.85 (p).
9. Electrons: bremsstrahlung before the magnet keeps a fraction f of the
   momentum, -ln f ~ Gamma(0.3 / ln 2, 1) (Bethe-Heitler, 0.3 X0); the kick and
   the smearing use f p; the acceptance is averaged over f by 16-point
   quantile quadrature.

Calibration (seed 0, 1M rows; ``python run_study.py generate`` prints it for
every sample): 44.7 % accepted and a Bayes cross-entropy of 0.146 nats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np
import pandas as pd
from scipy import special, stats

T = TypeVar("T")

CONTINUOUS = ["mc_x", "mc_y", "mc_z", "mc_log10_p", "mc_tx", "mc_ty", "mc_eta", "mc_phi"]
FLAGS = ["mc_is_e", "mc_is_mu", "mc_is_h", "mc_charge"]
FEATURES = CONTINUOUS + FLAGS
LABEL = "acceptance"
TRUTH = "true_probability"

# Hidden species: (fraction, mass GeV, c tau mm or inf, interaction strength or 0)
SPECIES = {
    "pi": (0.70, 0.13957, 7804.5, 1.0),
    "K": (0.14, 0.49368, 3711.4, 1.1),
    "p": (0.06, 0.93827, np.inf, 0.85),
    "mu": (0.03, 0.10566, np.inf, 0.0),
    "e": (0.07, 0.000511, np.inf, 0.0),
}
HADRONS = ("pi", "K", "p")

Z_MAGNET, Z_STATIONS = 5300.0, 9000.0
KICK_GEV = 1.2
BOX_X, BOX_Y, HOLE = 3000.0, 2500.0, 150.0
MAGNET_X, MAGNET_Y = 1600.0, 1300.0
MS_WIDTH = 30.0  # mm GeV
INTERACTION = 0.04
BREM_X0 = 0.3
BREM_NODES = 16


def _brem_fractions() -> np.ndarray:
    """Retained momentum fractions at equal-probability quadrature nodes."""
    u = (np.arange(BREM_NODES) + 0.5) / BREM_NODES
    return np.exp(-stats.gamma.ppf(u, BREM_X0 / np.log(2.0)))


_BREM_F = _brem_fractions()


def _interval_probability(centre: np.ndarray, half: float, sigma: np.ndarray) -> np.ndarray:
    """P(|centre + N(0, sigma)| < half)."""
    return special.ndtr((half - centre) / sigma) - special.ndtr((-half - centre) / sigma)


def aperture_probability(x: np.ndarray, y: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Probability that a smeared hit at the stations is inside the box and outside the hole."""
    outer = _interval_probability(x, BOX_X, sigma) * _interval_probability(y, BOX_Y, sigma)
    hole = _interval_probability(x, HOLE, sigma) * _interval_probability(y, HOLE, sigma)
    return np.clip(outer - hole, 0.0, 1.0)


def magnet_probability(x0, y0, z0, tx, ty, sigma):
    """Probability of passing the magnet's window (|x| < 1600, |y| < 1300 at its centre)."""
    x = x0 + tx * (Z_MAGNET - z0)
    y = y0 + ty * (Z_MAGNET - z0)
    return _interval_probability(x, MAGNET_X, sigma) * _interval_probability(y, MAGNET_Y, sigma)


def _station_position(x0, y0, z0, tx, ty, charge, p):
    """Straight lines to the magnet's centre, a kick of tx, straight lines to the stations."""
    tx_after = tx + charge * KICK_GEV / p
    x = x0 + tx * (Z_MAGNET - z0) + tx_after * (Z_STATIONS - Z_MAGNET)
    y = y0 + ty * (Z_STATIONS - z0)
    return x, y


def _velo_probability(x0, y0, z0, smear=1.0):
    rho = np.hypot(x0, y0)
    return (
        special.ndtr((z0 + 300.0) / (20.0 * smear))
        * special.ndtr((500.0 - z0) / (20.0 * smear))
        * special.ndtr((8.0 - rho) / smear)
    )


def _survival(name: str, p: np.ndarray, path: np.ndarray) -> np.ndarray:
    _, mass, ctau, strength = SPECIES[name]
    decay = np.exp(-mass * path / (p * ctau)) if np.isfinite(ctau) else np.ones_like(p)
    if strength == 0.0:
        return decay
    return decay * np.exp(-INTERACTION * (1.0 + 0.5 / p) / strength)


def _electron_probability(x0, y0, z0, tx, ty, charge, p, smear=1.0):
    """Aperture probability averaged over the bremsstrahlung retained fraction."""
    total = np.zeros_like(p)
    for f in _BREM_F:
        x, y = _station_position(x0, y0, z0, tx, ty, charge, f * p)
        total += aperture_probability(x, y, smear * MS_WIDTH / (f * p))
    return total / len(_BREM_F)


def true_probability(frame: pd.DataFrame, smear: float = 1.0) -> np.ndarray:
    """The exact acceptance probability of each particle from its (raw) features; `smear`
    scales every resolution (multiple scattering, the VELO's edges): below 1 the
    acceptance's boundaries are sharper, above 1 smoother (the zoo's profiles)."""
    x0, y0, z0 = (frame[c].to_numpy(np.float64) for c in ("mc_x", "mc_y", "mc_z"))
    tx, ty = frame["mc_tx"].to_numpy(np.float64), frame["mc_ty"].to_numpy(np.float64)
    charge = frame["mc_charge"].to_numpy(np.float64)
    p = 10.0 ** (frame["mc_log10_p"].to_numpy(np.float64) - 3.0)
    path = (Z_STATIONS - z0) * np.sqrt(1.0 + tx**2 + ty**2)
    width = smear * MS_WIDTH
    geometric = _velo_probability(x0, y0, z0, smear) * magnet_probability(
        x0, y0, z0, tx, ty, 0.5 * width / p
    )

    prob = np.zeros_like(p)
    is_h, is_mu, is_e = (frame[c].to_numpy() > 0 for c in ("mc_is_h", "mc_is_mu", "mc_is_e"))
    straight = is_h | is_mu
    x, y = _station_position(x0, y0, z0, tx, ty, charge, p)
    box = aperture_probability(x[straight], y[straight], width / p[straight])
    weights = np.array([SPECIES[s][0] for s in HADRONS])
    survival_h = sum(
        w * _survival(s, p, path) for w, s in zip(weights / weights.sum(), HADRONS, strict=False)
    )
    survival = np.where(is_h, survival_h, _survival("mu", p, path))
    prob[straight] = box * survival[straight]
    prob[is_e] = _electron_probability(
        x0[is_e], y0[is_e], z0[is_e], tx[is_e], ty[is_e], charge[is_e], p[is_e], smear
    )
    return np.clip(geometric * prob, 0.0, 1.0)


def _kinematics(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    names = list(SPECIES)
    species = rng.choice(len(names), size=n, p=[SPECIES[s][0] for s in names])
    displaced = rng.random(n) < 0.15
    width = np.where(displaced, 4.0, 0.05)
    x0, y0 = rng.normal(0.0, 1.0, n) * width, rng.normal(0.0, 1.0, n) * width
    z0 = rng.normal(0.0, 50.0, n) + np.where(displaced, rng.exponential(120.0, n), 0.0)
    eta = rng.uniform(1.0, 6.5, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    theta = 2.0 * np.arctan(np.exp(-eta))
    p = np.maximum(rng.gamma(2.0, 0.35, n) * np.cosh(eta), 0.2)
    return {
        "mc_x": x0,
        "mc_y": y0,
        "mc_z": z0,
        "mc_log10_p": np.log10(p * 1e3),
        "mc_tx": np.tan(theta) * np.cos(phi),
        "mc_ty": np.tan(theta) * np.sin(phi),
        "mc_eta": eta,
        "mc_phi": phi,
        "mc_is_e": (species == names.index("e")).astype(np.float64),
        "mc_is_mu": (species == names.index("mu")).astype(np.float64),
        "mc_is_h": np.isin(species, [names.index(s) for s in HADRONS]).astype(np.float64),
        "mc_charge": rng.choice([-1.0, 1.0], size=n),
    }


def generate_chunk(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """`n` particles: raw features, `true_probability` and the Bernoulli label."""
    frame = pd.DataFrame(_kinematics(rng, n))
    frame[TRUTH] = true_probability(frame)
    frame[LABEL] = (rng.random(n) < frame[TRUTH].to_numpy()).astype(np.float64)
    return frame


def generate(n_rows: int, seed: int = 0, chunk_size: int = 500_000) -> Iterator[pd.DataFrame]:
    """Yield `n_rows` particles in chunks of at most `chunk_size` rows (bounded memory).

    The sample depends on (`seed`, `chunk_size`) only; chunk k uses its own
    child of `numpy.random.SeedSequence(seed)`.
    """
    yield from chunked(n_rows, seed, chunk_size, generate_chunk)


def chunked(
    n_rows: int, entropy, chunk_size: int, make_chunk: Callable[[np.random.Generator, int], T]
) -> Iterator[T]:
    """Yield `make_chunk(rng, n)` for chunks of at most `chunk_size` of `n_rows` rows, chunk
    k's `rng` seeded by the k-th child of `numpy.random.SeedSequence(entropy)`."""
    if n_rows <= 0:
        raise ValueError(f"n_rows must be positive, got {n_rows}")
    children = np.random.SeedSequence(entropy).spawn((n_rows + chunk_size - 1) // chunk_size)
    for k, child in enumerate(children):
        yield make_chunk(np.random.default_rng(child), min(chunk_size, n_rows - k * chunk_size))


def bayes_cross_entropy(p: np.ndarray) -> float:
    """Mean binary entropy of the true probabilities (nats): the best achievable loss."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return float(np.mean(-p * np.log(p) - (1 - p) * np.log1p(-p)))
