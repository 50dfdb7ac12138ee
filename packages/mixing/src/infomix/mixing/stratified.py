"""The stratified baseline: the uniform mixture, and proposals that cover the simplex evenly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from infomix.core.hookspecs import hookimpl
from infomix.mixing.trial import Trial


def latin_hypercube_simplex(n: int, domains: int, rng: np.random.Generator) -> np.ndarray:
    """`n` mixtures, each uniform on the simplex, whose d−1 underlying uniforms are Latin-hypercube stratified.

    Sorting d−1 independent U(0, 1) and taking spacings gives a uniform (Dirichlet(1)) point; drawing the
    uniforms one per stratum per coordinate spreads the n points more evenly than independent draws.
    """
    if domains == 1:
        return np.ones((n, 1))
    strata = np.stack([rng.permutation(n) for _ in range(domains - 1)], axis=1)
    uniforms = (strata + rng.random((n, domains - 1))) / n
    edges = np.concatenate([np.zeros((n, 1)), np.sort(uniforms, axis=1), np.ones((n, 1))], axis=1)
    return np.diff(edges, axis=1)


class StratifiedMixing:
    """Stratified sampling over domains: recommend the uniform mixture (each domain equally weighted).

    ``propose(history, n)`` returns the uniform mixture first (if not already tried) and then
    Latin-hypercube-stratified uniform draws from the simplex, reproducible from ``seed`` and the
    length of the history, so a sweep over proposals covers the simplex evenly.
    """

    def __init__(self, domains: Sequence[str] | int = 4, seed: int = 0) -> None:
        if isinstance(domains, int):
            if domains < 1:
                raise ValueError(f"domains must be >= 1, got {domains}")
            domains = [f"domain{i}" for i in range(domains)]
        if len(set(domains)) != len(domains) or not domains:
            raise ValueError(f"domains must be non-empty, unique names, got {list(domains)}")
        self.domains = list(domains)
        self.seed = seed

    def recommend(self, history: Sequence[Trial] = ()) -> np.ndarray:
        return np.full(len(self.domains), 1.0 / len(self.domains))

    def propose(self, history: Sequence[Trial], n: int) -> np.ndarray:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        rng = np.random.default_rng([self.seed, len(history)])
        uniform = self.recommend(history)
        tried = any(np.allclose(t.mixture, uniform) for t in history)
        draws = latin_hypercube_simplex(n if tried else n - 1, len(self.domains), rng)
        return draws if tried else np.vstack([uniform, draws])


@hookimpl
def register_components(register: Any) -> None:
    register("mixing.method", "stratified", StratifiedMixing)
