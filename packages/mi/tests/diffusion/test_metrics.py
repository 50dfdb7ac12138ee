"""Sample distances: exact values under shifts, zero on identical sets, shape checks."""

import numpy as np
import pytest
import torch

from infomix.mi.diffusion import frechet_distance, sliced_wasserstein, trajectory_error


def test_frechet_of_a_shift_is_the_squared_shift_and_matches_1d_closed_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3000, 4)) @ rng.standard_normal((4, 4))
    shift = rng.standard_normal(4)
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-8)
    x, y = rng.standard_normal((5000, 1)), 1.0 + 2.0 * rng.standard_normal((5000, 1))
    mx, my, sx, sy = x.mean(), y.mean(), x.std(ddof=1), y.std(ddof=1)
    assert frechet_distance(x, y) == pytest.approx((mx - my) ** 2 + (sx - sy) ** 2, rel=1e-8)


def test_sliced_wasserstein_of_a_1d_shift_and_of_identical_sets():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2000, 1))
    assert sliced_wasserstein(a, a + 0.3) == pytest.approx(0.3, rel=1e-9)
    b = rng.standard_normal((500, 5))
    assert sliced_wasserstein(b, b) == 0.0
    assert sliced_wasserstein(b, rng.standard_normal((700, 5)) + 1.0) > 0.3


def test_trajectory_error_and_shapes():
    a = torch.randn(10, 3, dtype=torch.float64)
    assert trajectory_error(a, a + torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64)) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="same shape"):
        trajectory_error(a, a[:5])
    with pytest.raises(ValueError, match="same dimension"):
        frechet_distance(a, a[:, :2])
