"""The EDM-preconditioned MLP: preconditioning at init, conditioning checks, training approaches the exact denoiser."""

import pytest
import torch

from infomix.core.threads import torch_threads
from infomix.mi.diffusion import EDMSchedule, GaussianMixture, GMMDenoiser, VPSchedule
from infomix.mi.diffusion.data import digits
from infomix.mi.diffusion.network import EDMDenoiserNet, NetworkDenoiser, train_denoiser


def test_preconditioning_at_init_is_c_skip():
    net = EDMDenoiserNet(3, hidden=16, depth=2, sigma_data=0.7)
    x = torch.randn(8, 3)
    for sigma in (0.01, 1.0, 50.0):
        torch.testing.assert_close(net(x, sigma), 0.49 / (sigma**2 + 0.49) * x)


def test_condition_shapes_are_checked():
    net = EDMDenoiserNet(2, hidden=8, depth=1, cond_dim=3)
    x = torch.randn(4, 2)
    assert net(x, 1.0, torch.randn(4, 3)).shape == (4, 2)
    with pytest.raises(ValueError, match=r"cond must have shape \[4, 3\]"):
        net(x, 1.0, torch.randn(4, 2))
    with pytest.raises(ValueError, match="cond was given"):
        EDMDenoiserNet(2, hidden=8, depth=1)(x, 1.0, torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"x must have shape \[n, 2\]"):
        net(torch.randn(4, 3), 1.0)


def test_training_moves_towards_the_exact_denoiser_on_any_schedule():
    mix = GaussianMixture([[1.5, 0.0], [-1.5, 0.5]], [0.1, 0.2], [0.6, 0.4])
    with torch_threads(1):
        net = train_denoiser(mix.sample(4000, seed=0).float(), steps=600, batch_size=256, hidden=64, depth=2,
                             progress=False)  # fmt: skip
    untrained = EDMDenoiserNet(2, hidden=64, depth=2, sigma_data=net.sigma_data)
    for schedule in (EDMSchedule(), VPSchedule()):
        exact, learned = GMMDenoiser(mix, schedule), NetworkDenoiser(net, schedule, float64=True)
        initial = NetworkDenoiser(untrained, schedule, float64=True)
        t = schedule.time_from_kappa(0.5)
        x = mix.sample(2000, seed=1, alpha=schedule.alpha(t), sigma=schedule.sigma(t))
        err = (learned(x, t) - exact(x, t)).norm(dim=1).mean()
        baseline = (initial(x, t) - exact(x, t)).norm(dim=1).mean()  # c_skip·x, the network at init
        assert err < 0.6 * baseline, (err, baseline)


def test_digits_are_scaled_to_minus_one_one():
    d = digits()
    assert d.shape == (1797, 64) and float(d.min()) == -1.0 and float(d.max()) == 1.0
    with pytest.raises(ValueError, match="data must have shape"):
        train_denoiser(torch.randn(5), steps=1)
