"""Distributions with known mutual information, for testing and benchmarking estimators."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy.integrate import quad
from scipy.special import digamma, gammaln, ndtr

from infomix.core.hookspecs import hookimpl


@runtime_checkable
class MITask(Protocol):
    """What an `mi.task` component is: a sampler of (x, y) pairs with its true MI in nats."""

    dim_x: int
    dim_y: int

    @property
    def mutual_information(self) -> float: ...

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]: ...


def _check_n(n: int) -> None:
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")


def gaussian_mi(covariance: np.ndarray, dim_x: int) -> float:
    """½·(log det Σ_xx + log det Σ_yy − log det Σ) of a joint covariance whose first dim_x coordinates are x."""
    logdet = lambda m: np.linalg.slogdet(m)[1]  # noqa: E731
    cov = np.asarray(covariance, dtype=float)
    return max(0.0, 0.5 * float(logdet(cov[:dim_x, :dim_x]) + logdet(cov[dim_x:, dim_x:]) - logdet(cov)))


class GaussianTask:
    """x, y standard Gaussian in `dim` dimensions, coordinate i of y correlated with coordinate i of x by `rho`.

    I(x; y) = −(dim/2)·log(1 − ρ²) nats.
    """

    def __init__(self, dim: int = 1, rho: float = 0.75) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if not -1.0 < rho < 1.0:
            raise ValueError(f"rho must be in (-1, 1), got {rho}")
        self.dim, self.rho = dim, rho
        self.dim_x = self.dim_y = dim

    @property
    def mutual_information(self) -> float:
        return -0.5 * self.dim * math.log(1.0 - self.rho**2)

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        _check_n(n)
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, self.dim))
        y = self.rho * x + math.sqrt(1.0 - self.rho**2) * rng.standard_normal((n, self.dim))
        return x, y


def dense_correlation(dim: int, correlation: float) -> np.ndarray:
    """A correlation matrix with every off-diagonal entry equal to `correlation`."""
    return np.full((dim, dim), correlation) + (1.0 - correlation) * np.eye(dim)


def paired_correlation(dim_x: int, dim_y: int, n_pairs: int, rho: float) -> np.ndarray:
    """Identity except x_i and y_i correlated by `rho` for i < n_pairs (the "2-pair" family has n_pairs=2, ρ=0.8)."""
    if not 0 <= n_pairs <= min(dim_x, dim_y):
        raise ValueError(f"n_pairs must be in [0, min(dim_x, dim_y)] = [0, {min(dim_x, dim_y)}], got {n_pairs}")
    cov = np.eye(dim_x + dim_y)
    for i in range(n_pairs):
        cov[i, dim_x + i] = cov[dim_x + i, i] = rho
    return cov


class MultinormalTask:
    """(x, y) jointly Gaussian with zero mean and the given covariance; the first `dim_x` coordinates are x.

    I(x; y) = ½·log(det Σ_xx · det Σ_yy / det Σ).
    """

    def __init__(self, covariance: Any, dim_x: int) -> None:
        cov = np.asarray(covariance, dtype=float)
        if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
            raise ValueError(f"covariance must be a square matrix, got shape {cov.shape}")
        if not 1 <= dim_x < cov.shape[0]:
            raise ValueError(f"dim_x must be in [1, {cov.shape[0] - 1}], got {dim_x}")
        if not np.allclose(cov, cov.T) or np.linalg.eigvalsh(cov).min() <= 0:
            raise ValueError("covariance must be symmetric positive definite")
        self.covariance, self.dim_x, self.dim_y = cov, dim_x, cov.shape[0] - dim_x
        self._factor = np.linalg.cholesky(cov)

    @property
    def mutual_information(self) -> float:
        return gaussian_mi(self.covariance, self.dim_x)

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        _check_n(n)
        z = np.random.default_rng(seed).standard_normal((n, self.covariance.shape[0])) @ self._factor.T
        return z[:, : self.dim_x], z[:, self.dim_x :]


def student_entropy_term(k: int, dof: float) -> float:
    """Differential entropy of a standard k-dimensional Student-t with `dof` degrees of freedom (unit dispersion)."""
    a = (dof + k) / 2.0
    return float(
        -gammaln(a) + gammaln(dof / 2.0) + 0.5 * k * math.log(dof * math.pi) + a * (digamma(a) - digamma(dof / 2.0))
    )


class StudentTask:
    """(x, y) multivariate Student-t with `dof` degrees of freedom and dispersion Σ (default identity).

    (x, y) = z / √(w/ν), z ~ N(0, Σ), w ~ χ²_ν. I = I_Gauss(Σ) + h(d_x) + h(d_y) − h(d_x + d_y), h the
    entropy of the standard t (Arellano-Valle, Contreras-Reyes & Genton 2013): positive even for Σ = I,
    as x and y share the scale w.
    """

    def __init__(self, dim_x: int = 1, dim_y: int = 1, dof: float = 1.0, dispersion: Any = None) -> None:
        if dim_x < 1 or dim_y < 1:
            raise ValueError(f"dim_x and dim_y must be >= 1, got {dim_x} and {dim_y}")
        if dof <= 0:
            raise ValueError(f"dof must be > 0, got {dof}")
        self.dim_x, self.dim_y, self.dof = dim_x, dim_y, float(dof)
        self._normal = MultinormalTask(np.eye(dim_x + dim_y) if dispersion is None else dispersion, dim_x)

    @property
    def mutual_information(self) -> float:
        h = lambda k: student_entropy_term(k, self.dof)  # noqa: E731
        return self._normal.mutual_information + h(self.dim_x) + h(self.dim_y) - h(self.dim_x + self.dim_y)

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        _check_n(n)
        x, y = self._normal.sample(n, seed)
        scale = np.sqrt(np.random.default_rng([seed, 1]).chisquare(self.dof, size=(n, 1)) / self.dof)
        return x / scale, y / scale


class AdditiveUniformTask:
    """x ~ U(0, 1), y = x + u with u ~ U(−ε, ε). I = ε − log(2ε) for ε ≤ ½, else 1/(4ε)."""

    def __init__(self, epsilon: float = 0.1) -> None:
        if epsilon <= 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon}")
        self.epsilon = epsilon
        self.dim_x = self.dim_y = 1

    @property
    def mutual_information(self) -> float:
        e = self.epsilon
        return e - math.log(2 * e) if e <= 0.5 else 1.0 / (4 * e)

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        _check_n(n)
        rng = np.random.default_rng(seed)
        x = rng.uniform(0.0, 1.0, size=(n, 1))
        return x, x + rng.uniform(-self.epsilon, self.epsilon, size=(n, 1))


def half_cube(t: np.ndarray) -> np.ndarray:
    return t * np.sqrt(np.abs(t))


def wiggly(t: np.ndarray) -> np.ndarray:
    """t + 0.4 sin t + 0.2 sin(1.7t + 1) + 0.03 sin(3.3t − 2.5): derivative ≥ 1 − 0.4 − 0.34 − 0.099 > 0."""
    return t + 0.4 * np.sin(t) + 0.2 * np.sin(1.7 * t + 1.0) + 0.03 * np.sin(3.3 * t - 2.5)


def spiral(t: np.ndarray, speed: float = 1.0) -> np.ndarray:
    """Rotate each row in the plane of its first two coordinates by speed·‖row‖²; the norm is kept, so the
    map is inverted by rotating back by the same angle."""
    if t.shape[1] < 2:
        raise ValueError(f"the spiral needs at least 2 dimensions, got {t.shape[1]}")
    angle = speed * np.sum(t * t, axis=1)
    out = t.copy()
    c, s = np.cos(angle), np.sin(angle)
    out[:, 0], out[:, 1] = c * t[:, 0] - s * t[:, 1], s * t[:, 0] + c * t[:, 1]
    return out


def coupling(t: np.ndarray, strength: float = 1.5, frequency: float = 2.0) -> np.ndarray:
    """Two additive-coupling layers on the first two coordinates: u₁ = t₁ + a·sin(b·t₀), then
    u₀ = t₀ + a·sin(b·u₁). Triangular, so inverted layer by layer (`uncoupling`); non-monotone in each
    coordinate, so, unlike the coordinatewise maps, it changes the ranks."""
    if t.shape[1] < 2:
        raise ValueError(f"the coupling needs at least 2 dimensions, got {t.shape[1]}")
    out = t.copy()
    out[:, 1] = t[:, 1] + strength * np.sin(frequency * t[:, 0])
    out[:, 0] = t[:, 0] + strength * np.sin(frequency * out[:, 1])
    return out


def uncoupling(u: np.ndarray, strength: float = 1.5, frequency: float = 2.0) -> np.ndarray:
    """The inverse of `coupling` with the same constants."""
    out = u.copy()
    out[:, 0] = u[:, 0] - strength * np.sin(frequency * u[:, 1])
    out[:, 1] = u[:, 1] - strength * np.sin(frequency * out[:, 0])
    return out


TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda t: t,
    "half-cube": half_cube,
    "asinh": np.arcsinh,
    "normal-cdf": ndtr,
    "wiggly": wiggly,
    "spiral": spiral,
    "coupling": coupling,
}


class TransformedTask:
    """A task with injective smooth maps applied to x and to y separately: the MI is the base task's.

    `base` is a task or a task name; maps are named in TRANSFORMS (half-cube, asinh, normal-cdf,
    wiggly: coordinatewise increasing; spiral: a norm-keeping rotation in the first two coordinates;
    coupling: two additive-coupling layers on the first two coordinates).
    """

    def __init__(
        self, base: Any = "1v1-normal-0.75", transform_x: str = "half-cube", transform_y: str | None = None
    ) -> None:
        self.base = task(base) if isinstance(base, str) else base
        self.transform_x, self.transform_y = transform_x, transform_x if transform_y is None else transform_y
        for name in (self.transform_x, self.transform_y):
            if name not in TRANSFORMS:
                raise ValueError(f"unknown transform {name!r}; known: {', '.join(TRANSFORMS)}")
        self.dim_x, self.dim_y = self.base.dim_x, self.base.dim_y

    @property
    def mutual_information(self) -> float:
        return self.base.mutual_information

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.base.sample(n, seed)
        return TRANSFORMS[self.transform_x](x), TRANSFORMS[self.transform_y](y)


class DiscreteTask:
    """x, y integer labels drawn from the joint probability table `joint` (K_x × K_y); MI by its definition."""

    def __init__(self, joint: Any = ((0.45, 0.05), (0.05, 0.45))) -> None:
        p = np.asarray(joint, dtype=float)
        if p.ndim != 2 or (p < 0).any() or not math.isclose(p.sum(), 1.0, abs_tol=1e-9):
            raise ValueError("joint must be a 2-D table of non-negative probabilities summing to 1")
        self.joint = p
        self.dim_x = self.dim_y = 1

    @property
    def mutual_information(self) -> float:
        p = self.joint
        outer = p.sum(axis=1, keepdims=True) @ p.sum(axis=0, keepdims=True)
        nz = p > 0
        return float(np.sum(p[nz] * np.log(p[nz] / outer[nz])))

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        _check_n(n)
        cells = np.random.default_rng(seed).choice(self.joint.size, size=n, p=self.joint.ravel())
        x, y = np.unravel_index(cells, self.joint.shape)
        return x[:, None], y[:, None]


class LabelGaussianTask:
    """x a label drawn with probabilities `weights`, y | x normal with mean means_x and sd sigma, in one dimension.

    I = h(y) − ½·log(2πeσ²), h(y) of the Gaussian mixture by numerical integration.
    """

    def __init__(self, means: Any = (-1.0, 0.0, 1.5), sigma: float = 1.0, weights: Any = None) -> None:
        self.means = np.asarray(means, dtype=float)
        self.weights = np.full(self.means.size, 1.0 / self.means.size) if weights is None else np.asarray(weights)
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        if self.weights.shape != self.means.shape or not math.isclose(self.weights.sum(), 1.0, abs_tol=1e-9):
            raise ValueError("weights must be probabilities, one per mean")
        self.sigma = sigma
        self.dim_x = self.dim_y = 1

    @property
    def mutual_information(self) -> float:
        def density(t: float) -> float:
            z = (t - self.means) / self.sigma
            return float(np.sum(self.weights * np.exp(-0.5 * z * z)) / (self.sigma * math.sqrt(2 * math.pi)))

        def integrand(t: float) -> float:
            p = density(t)
            return -p * math.log(p) if p > 0 else 0.0

        lo, hi = self.means.min() - 12 * self.sigma, self.means.max() + 12 * self.sigma
        entropy, _ = quad(integrand, lo, hi, limit=200, points=list(self.means))
        return entropy - 0.5 * math.log(2 * math.pi * math.e * self.sigma**2)

    def sample(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        _check_n(n)
        rng = np.random.default_rng(seed)
        x = rng.choice(self.means.size, size=n, p=self.weights)
        return x[:, None], (self.means[x] + self.sigma * rng.standard_normal(n))[:, None]


def _dense(d: int, c: float) -> MultinormalTask:
    return MultinormalTask(dense_correlation(2 * d, c), d)


def _pairs(d: int, n_pairs: int = 2, rho: float = 0.8) -> MultinormalTask:
    return MultinormalTask(paired_correlation(d, d, n_pairs, rho), d)


NAMED_TASKS: dict[str, Callable[[], Any]] = {
    "1v1-normal-0.75": lambda: GaussianTask(1, 0.75),
    "1v1-uniform-margins-0.75": lambda: TransformedTask(GaussianTask(1, 0.75), "normal-cdf"),
    "1v1-halfcube-0.75": lambda: TransformedTask(GaussianTask(1, 0.75), "half-cube"),
    "1v1-wiggly-0.75": lambda: TransformedTask(GaussianTask(1, 0.75), "wiggly"),
    "1v1-additive-0.1": lambda: AdditiveUniformTask(0.1),
    "1v1-additive-0.75": lambda: AdditiveUniformTask(0.75),
    "1v1-student-dof1": lambda: StudentTask(1, 1, 1.0),
    "1v1-asinh-student-dof1": lambda: TransformedTask(StudentTask(1, 1, 1.0), "asinh"),
    "2v2-normal-dense-0.5": lambda: _dense(2, 0.5),
    "3v3-normal-dense-0.5": lambda: _dense(3, 0.5),
    "5v5-normal-dense-0.5": lambda: _dense(5, 0.5),
    "25v25-normal-dense-0.5": lambda: _dense(25, 0.5),
    "3v3-normal-2pair": lambda: _pairs(3),
    "5v5-normal-2pair": lambda: _pairs(5),
    "25v25-normal-2pair": lambda: _pairs(25),
    "5v5-normal-5pair-0.9": lambda: _pairs(5, 5, 0.9),
    "5v5-independent": lambda: _pairs(5, 0),
    "2v2-student-dof1": lambda: StudentTask(2, 2, 1.0),
    "2v2-student-dof2": lambda: StudentTask(2, 2, 2.0),
    "3v3-student-dof2": lambda: StudentTask(3, 3, 2.0),
    "3v3-student-dof3": lambda: StudentTask(3, 3, 3.0),
    "5v5-student-dof2": lambda: StudentTask(5, 5, 2.0),
    "5v5-student-dof3": lambda: StudentTask(5, 5, 3.0),
    "2v2-asinh-student-dof1": lambda: TransformedTask(StudentTask(2, 2, 1.0), "asinh"),
    "3v3-asinh-student-dof2": lambda: TransformedTask(StudentTask(3, 3, 2.0), "asinh"),
    "3v3-halfcube-2pair": lambda: TransformedTask(_pairs(3), "half-cube"),
    "5v5-halfcube-2pair": lambda: TransformedTask(_pairs(5), "half-cube"),
    "5v5-uniform-margins-2pair": lambda: TransformedTask(_pairs(5), "normal-cdf"),
    "3v3-spiral-2pair": lambda: TransformedTask(_pairs(3), "spiral"),
    "5v5-spiral-2pair": lambda: TransformedTask(_pairs(5), "spiral"),
    "3v3-coupling-2pair": lambda: TransformedTask(_pairs(3), "coupling"),
    "5v5-coupling-2pair": lambda: TransformedTask(_pairs(5), "coupling"),
    "discrete-binary-symmetric-0.1": lambda: DiscreteTask(((0.45, 0.05), (0.05, 0.45))),
    "discrete-4x3-random": lambda: DiscreteTask(np.random.default_rng(4).dirichlet(np.ones(12)).reshape(4, 3)),
    "label3-gaussian": lambda: LabelGaussianTask((-1.0, 0.0, 1.5), 1.0),
}


class NamedTask:
    """One of the named tasks in NAMED_TASKS (e.g. ``1v1-normal-0.75``, ``5v5-student-dof3``)."""

    def __new__(cls, name: str = "1v1-normal-0.75") -> Any:  # type: ignore[misc]
        return task(name)


def task(name: str) -> Any:
    """Build the named task, with its `name` attribute set; raise listing close names when unknown."""
    if name not in NAMED_TASKS:
        from infomix.core.errors import suggest

        raise ValueError(f"unknown task {name!r}{suggest(name, NAMED_TASKS)}; see `infomix mi tasks`")
    built = NAMED_TASKS[name]()
    built.name = name
    return built


@hookimpl
def register_components(register: Any) -> None:
    register("mi.task", "gaussian", GaussianTask)
    register("mi.task", "multinormal", MultinormalTask)
    register("mi.task", "student", StudentTask)
    register("mi.task", "additive-uniform", AdditiveUniformTask)
    register("mi.task", "transformed", TransformedTask)
    register("mi.task", "discrete", DiscreteTask)
    register("mi.task", "label-gaussian", LabelGaussianTask)
    register("mi.task", "named", NamedTask)
