"""Stratified mixing: uniform recommendation, simplex proposals with one draw per stratum."""

import numpy as np
import pytest

from infomix.core.testing import check_offline_mixing_method
from infomix.mixing import StratifiedMixing, Trial, check_mixture, latin_hypercube_simplex


def test_conformance():
    check_offline_mixing_method(StratifiedMixing(domains=["code", "legal", "prose"], seed=3))


def test_first_proposal_is_uniform_until_tried():
    method = StratifiedMixing(domains=4, seed=1)
    first = method.propose([], 5)
    np.testing.assert_allclose(first[0], 0.25)
    later = method.propose([Trial(mixture=first[0])], 5)
    assert not np.any(np.all(np.isclose(later, 0.25), axis=1))


def test_two_domains_hit_every_stratum_once():
    n = 50
    weights = latin_hypercube_simplex(n, 2, np.random.default_rng(7))[:, 0]
    assert sorted(np.floor(weights * n).astype(int)) == list(range(n))


def test_marginals_match_uniform_dirichlet():
    d, n = 5, 20_000
    draws = latin_hypercube_simplex(n, d, np.random.default_rng(11))
    np.testing.assert_allclose(draws.sum(axis=1), 1.0)
    # Dirichlet(1,...,1): each weight is Beta(1, d-1), mean 1/d, variance (d-1)/(d^2 (d+1)).
    np.testing.assert_allclose(draws.mean(axis=0), 1 / d, atol=0.005)
    np.testing.assert_allclose(draws.var(axis=0), (d - 1) / (d**2 * (d + 1)), rtol=0.05)


def test_validation():
    with pytest.raises(ValueError, match="unique"):
        StratifiedMixing(domains=["a", "a"])
    with pytest.raises(ValueError, match="sum to 1"):
        check_mixture([0.5, 0.6], 2)
    with pytest.raises(ValueError, match="n must be"):
        StratifiedMixing().propose([], 0)
