"""Meta-training data: random distributions with known MI, drawn on the fly, as batches of normal scores."""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from infomix.mi import tasks as task_module
from infomix.mi.learned import features
from infomix.mi.tasks import TRANSFORMS, MultinormalTask, StudentTask

# student-scale: Student-t with identity dispersion, where all the MI is the shared-scale (tail) dependence
TRAIN_FAMILIES = ("normal-pairs", "normal-dense", "normal-random", "student-pairs", "student-random", "student-scale")
HELD_OUT_FAMILIES = ("additive-uniform",)
# coordinatewise increasing maps (no-ops after the rank transform, kept so the generator is the whole story);
# not the normal CDF: it rounds Student-t tails to exactly 1.0, and the ties would destroy information
MONOTONE_TRANSFORMS = ("identity", "half-cube", "asinh", "wiggly")
# non-monotone, MI-keeping maps that change the ranks; held out: mixing the spiral into meta-training (14% of
# draws, 1,800 steps) did not teach the network to see through it, and only widened every interval about 4x
TRAIN_TRANSFORMS = MONOTONE_TRANSFORMS
HELD_OUT_TRANSFORMS = ("spiral", "coupling")
MIXING_TRANSFORMS = ("spiral", "coupling")  # need d >= 2 on both sides; identity otherwise
SPIRAL_SPEEDS = (0.3, 1.5)


@dataclass(frozen=True)
class MetaDataConfig:
    """What the meta-training distribution covers; its JSON and the generator's source make the data hash."""

    min_dim: int = 1
    max_dim: int = 5
    min_n: int = 100
    max_n: int = 5000
    rows_per_batch: int = 8192  # batch size = clamp(rows_per_batch // n, min_batch, max_batch)
    min_batch: int = 4
    max_batch: int = 64
    max_mi: float = 5.0
    min_dof: float = 1.0  # Student-t degrees of freedom, log-uniform in [min_dof, max_dof]
    max_dof: float = 10.0
    zero_mi_fraction: float = 0.1
    rotation_probability: float = 0.5  # random orthogonal mixing of the x and of the y coordinates
    # every column times an independent random sign (MI-preserving): without it the dense covariances, whose
    # correlations are all positive, teach the network that a positive correlation pattern means "Gaussian",
    # and negating one column moved v4's estimate of a Student-t pair (true 0.52 nats) from 0.34 to 0.61
    random_signs: bool = True
    families: tuple[str, ...] = TRAIN_FAMILIES
    transforms: tuple[str, ...] = TRAIN_TRANSFORMS
    held_out: dict = field(
        default_factory=lambda: {"families": list(HELD_OUT_FAMILIES), "transforms": list(HELD_OUT_TRANSFORMS)}
    )

    def __post_init__(self) -> None:
        if not 0 < self.min_dof <= self.max_dof:
            raise ValueError(f"min_dof and max_dof must satisfy 0 < min_dof <= max_dof, got {self.min_dof}, {self.max_dof}")

    def to_dict(self) -> dict:
        return {**asdict(self), "families": list(self.families), "transforms": list(self.transforms)}

    @classmethod
    def from_dict(cls, data: dict) -> MetaDataConfig:
        return cls(**{**data, "families": tuple(data["families"]), "transforms": tuple(data["transforms"])})


def generator_hash(config: MetaDataConfig) -> str:
    """sha256 of the config's JSON and the source of the modules that draw the data."""
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode())
    for module in (task_module, features, inspect.getmodule(generator_hash)):
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()


def _split_mi(rng: np.random.Generator, total: float, parts: int) -> np.ndarray:
    return total * rng.dirichlet(np.ones(parts))


def _pair_covariance(rng: np.random.Generator, dx: int, dy: int, total_mi: float) -> np.ndarray:
    """x_i, y_i correlated for i < k (k random), the Gaussian MI split at random among the pairs."""
    k = int(rng.integers(1, min(dx, dy) + 1))
    per_pair = _split_mi(rng, total_mi, k)
    rho = np.sqrt(1.0 - np.exp(-2.0 * per_pair)) * rng.choice([-1.0, 1.0], size=k)
    cov = np.eye(dx + dy)
    for i in range(k):
        cov[i, dx + i] = cov[dx + i, i] = rho[i]
    return cov


def _scaled_to(cov: np.ndarray, dx: int, total_mi: float) -> np.ndarray:
    """Blend a correlation matrix with the identity, t·C + (1 − t)·I, so that its Gaussian MI is total_mi."""
    if total_mi <= 0:
        return np.eye(cov.shape[0])
    full = task_module.gaussian_mi(cov, dx)
    if full <= total_mi:
        return cov
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        blended = mid * cov + (1 - mid) * np.eye(cov.shape[0])
        lo, hi = (mid, hi) if task_module.gaussian_mi(blended, dx) < total_mi else (lo, mid)
    return lo * cov + (1 - lo) * np.eye(cov.shape[0])


def _dense_covariance(rng: np.random.Generator, dx: int, dy: int, total_mi: float) -> np.ndarray:
    d = dx + dy
    c = rng.uniform(0.0, 0.95)
    cov = np.full((d, d), c) + (1 - c) * np.eye(d)
    return _scaled_to(cov, dx, total_mi)


def _random_covariance(rng: np.random.Generator, dx: int, dy: int, total_mi: float) -> np.ndarray:
    d = dx + dy
    factor = rng.standard_normal((d, int(rng.integers(1, d + 1))))
    cov = factor @ factor.T + np.diag(rng.uniform(0.05, 1.0, size=d))
    std = np.sqrt(np.diag(cov))
    return _scaled_to(cov / np.outer(std, std), dx, total_mi)


def _orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


@dataclass
class DrawnTask:
    """One meta-training distribution: its sample, true MI and a description of how it was made."""

    x: np.ndarray
    y: np.ndarray
    mutual_information: float
    family: str
    transform: str


def draw_task(
    rng: np.random.Generator, n: int, dx: int, dy: int, config: MetaDataConfig, family: str | None = None,
    transform: str | None = None,
) -> DrawnTask:
    """Draw a distribution of `family` (default: one of config.families) and a sample of n rows from it."""
    family = family or str(rng.choice(config.families))
    total = 0.0 if rng.random() < config.zero_mi_fraction else float(rng.uniform(0.0, config.max_mi))
    seed = int(rng.integers(2**31))
    if family == "additive-uniform":
        k = min(dx, dy)
        eps = rng.uniform(0.05, 1.5, size=k)
        u = np.random.default_rng(seed)
        x = u.uniform(0.0, 1.0, size=(n, dx))
        y = u.uniform(0.0, 1.0, size=(n, dy))
        y[:, :k] = x[:, :k] + u.uniform(-eps, eps, size=(n, k))
        mi = float(sum(e - math.log(2 * e) if e <= 0.5 else 1 / (4 * e) for e in eps))
    else:
        base, _, shape = family.partition("-")
        make = {
            "pairs": _pair_covariance,
            "dense": _dense_covariance,
            "random": _random_covariance,
            "scale": lambda _rng, dx, dy, _total: np.eye(dx + dy),
        }[shape]
        cov = make(rng, dx, dy, total)
        if base == "normal":
            dist: MultinormalTask | StudentTask = MultinormalTask(cov, dx)
        else:
            dof = float(np.exp(rng.uniform(math.log(config.min_dof), math.log(config.max_dof))))
            dist = StudentTask(dx, dy, dof=dof, dispersion=cov)
        x, y = dist.sample(n, seed)
        mi = dist.mutual_information
    names = []
    if transform is None and rng.random() < config.rotation_probability:
        x, y = x @ _orthogonal(rng, dx), y @ _orthogonal(rng, dy)
        names.append("rotation")
    chosen = transform or str(rng.choice(config.transforms))
    if chosen in MIXING_TRANSFORMS and (dx < 2 or dy < 2):
        chosen = "identity"
    if chosen == "spiral":
        speed = float(rng.uniform(*SPIRAL_SPEEDS))
        x, y = task_module.spiral(x / x.std(), speed), task_module.spiral(y / y.std(), speed)
    elif chosen == "coupling":
        x, y = task_module.coupling(x / x.std()), task_module.coupling(y / y.std())
    else:
        x, y = TRANSFORMS[chosen](x), TRANSFORMS[chosen](y)
    names.append(chosen)
    if config.random_signs:
        x, y = x * rng.choice([-1.0, 1.0], size=dx), y * rng.choice([-1.0, 1.0], size=dy)
    return DrawnTask(x, y, mi, family, "+".join(names))


@dataclass
class MetaBatch:
    """B samples of one shape: normal scores zx [B, n, d_x], zy [B, n, d_y], true MI [B]."""

    zx: np.ndarray
    zy: np.ndarray
    mutual_information: np.ndarray
    families: list[str]
    transforms: list[str]


def batch_shape(rng: np.random.Generator, config: MetaDataConfig) -> tuple[int, int, int, int]:
    """(batch size, n, d_x, d_y): n log-uniform in [min_n, max_n], d_y = d_x half of the time."""
    n = int(round(math.exp(rng.uniform(math.log(config.min_n), math.log(config.max_n)))))
    dx = int(rng.integers(config.min_dim, config.max_dim + 1))
    dy = dx if rng.random() < 0.5 else int(rng.integers(config.min_dim, config.max_dim + 1))
    size = int(np.clip(config.rows_per_batch // n, config.min_batch, config.max_batch))
    return size, n, dx, dy


def draw_batch(seed: int, step: int, config: MetaDataConfig, **task_kwargs: str) -> MetaBatch:
    """The batch of training step `step`: a pure function of (seed, step, config), so training can resume."""
    rng = np.random.default_rng([seed, step])
    size, n, dx, dy = batch_shape(rng, config)
    drawn = [draw_task(rng, n, dx, dy, config, **task_kwargs) for _ in range(size)]
    return MetaBatch(
        np.stack([features.normal_scores(t.x) for t in drawn]),
        np.stack([features.normal_scores(t.y) for t in drawn]),
        np.array([t.mutual_information for t in drawn], dtype=np.float32),
        [t.family for t in drawn],
        [t.transform for t in drawn],
    )
