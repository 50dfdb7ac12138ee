"""The exact Gaussian-mixture denoiser: Tweedie's formula from the autograd score, and a Monte-Carlo posterior mean."""

import pytest
import torch

from infomix.mi.diffusion import EDMSchedule, GaussianMixture, GMMDenoiser, VPSchedule, random_mixture


def _mixture(dim=3, k=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    means = 2 * torch.randn(k, dim, generator=gen, dtype=torch.float64)
    variances = 0.05 + torch.rand(k, generator=gen, dtype=torch.float64)
    weights = torch.rand(k, generator=gen, dtype=torch.float64) + 0.2
    return GaussianMixture(means, variances, weights / weights.sum())


@pytest.mark.parametrize("schedule", [EDMSchedule(), VPSchedule()])
@pytest.mark.parametrize("dim", [1, 3, 10])
def test_denoiser_is_tweedie_from_the_autograd_score(schedule, dim):
    mix = _mixture(dim, seed=dim)
    den = GMMDenoiser(mix, schedule)
    gen = torch.Generator().manual_seed(1)
    for t in [schedule.t_min * 5, 0.3 * schedule.t_max, schedule.t_max]:
        a, s = schedule.alpha(t), schedule.sigma(t)
        x = (a * mix.sample(64, seed=3) + s * torch.randn(64, dim, generator=gen, dtype=torch.float64)).requires_grad_()
        (score,) = torch.autograd.grad(mix.log_prob(x, a, s).sum(), x)
        tweedie = (x + s * s * score) / a
        torch.testing.assert_close(den(x.detach(), t), tweedie.detach(), rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(den.score(x.detach(), t), score, rtol=1e-9, atol=1e-9)


def test_denoiser_matches_a_monte_carlo_posterior_mean():
    mix = random_mixture(2, n_modes=3, seed=4)
    schedule = EDMSchedule()
    sigma = 0.7
    prior = mix.sample(400_000, seed=9)
    x = mix.sample(5, seed=11, sigma=sigma)
    # importance weights p(x | x0) over prior draws
    logw = -0.5 * torch.cdist(x, prior).square() / sigma**2
    mc = torch.softmax(logw, dim=1) @ prior
    torch.testing.assert_close(GMMDenoiser(mix, schedule)(x, sigma), mc, atol=0.02, rtol=0)


def test_shape_errors_name_the_argument():
    den = GMMDenoiser(_mixture(3), "edm")
    with pytest.raises(ValueError, match=r"x must have shape \[n, 3\]"):
        den(torch.randn(4, 2, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match="variances must be 2 positive numbers"):
        GaussianMixture([[0.0], [1.0]], [1.0, -1.0])
    with pytest.raises(ValueError, match="weights must be"):
        GaussianMixture([[0.0], [1.0]], [1.0, 1.0], [0.7, 0.7])
