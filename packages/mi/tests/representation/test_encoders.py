"""Encoders: the coupling flow is an exact, volume-preserving bijection; shapes, noise and bad input of the others."""

import pytest

torch = pytest.importorskip("torch")

from infomix.mi.representation.encoders import AdditiveCouplingFlow, make_encoder  # noqa: E402


def test_flow_round_trip_is_exact_for_a_far_from_identity_flow():
    torch.manual_seed(0)
    flow = AdditiveCouplingFlow((1, 14, 28), couplings=6, hidden=(64,), init_std=0.1, seed=3)
    x = torch.rand(256, 1, 14, 28, generator=torch.Generator().manual_seed(1))
    z = flow(x)
    assert z.shape == (256, 392)
    assert (z - x.flatten(1)[:, flow.perms[-1]]).abs().max() > 0.1  # the couplings really move the point
    err = (flow.inverse(z) - x.flatten(1)).abs().max()
    assert err < 1e-5
    flow64 = flow.double()
    x64 = x.double().flatten(1)
    assert (flow64.inverse(flow64(x64)) - x64).abs().max() < 1e-12
    assert (flow64(flow64.inverse(x64)) - x64).abs().max() < 1e-12


def test_flow_preserves_volume():
    """|det ∂g/∂x| = 1 at random points (autograd Jacobian, float64), matching log_abs_det_jacobian = 0."""
    torch.manual_seed(1)
    flow = AdditiveCouplingFlow((7,), couplings=4, hidden=(16,), init_std=0.5, seed=2).double()
    gen = torch.Generator().manual_seed(4)
    for _ in range(3):
        x = torch.randn(1, 7, generator=gen, dtype=torch.float64)
        jac = torch.autograd.functional.jacobian(lambda t: flow(t[None])[0], x[0])
        assert not torch.allclose(jac.abs(), jac.abs().round())  # not a bare permutation matrix
        assert float(torch.linalg.det(jac).abs()) == pytest.approx(1.0, abs=1e-10)
    assert torch.equal(flow.log_abs_det_jacobian(torch.randn(5, 7)), torch.zeros(5))


def test_flow_starts_near_a_permutation():
    flow = AdditiveCouplingFlow((10,), couplings=3, seed=0)
    x = torch.randn(20, 10, generator=torch.Generator().manual_seed(5))
    p = x
    for perm in flow.perms:
        p = p[:, perm]
    assert (flow(x) - p).abs().max() < 1e-2


def test_encoder_output_shapes():
    x = torch.rand(9, 1, 14, 28, generator=torch.Generator().manual_seed(0))
    for name, params, width in [
        ("mlp", {}, 100),
        ("mlp", {"hidden": (32,), "out_dim": 7}, 7),
        ("conv", {"channels": (8, 16), "out_dim": 12}, 12),
        ("resmlp", {"layers": 2}, 392),
        ("flow", {"couplings": 2}, 392),
        ("identity", {}, 392),
    ]:
        enc = make_encoder(name, (1, 14, 28), **params)
        out = enc(x)
        assert out.shape == (9, width) and enc.out_dim == width, name
    conv = make_encoder("conv", (1, 14, 28), channels=(8, 16))
    torch.testing.assert_close(conv(x.flatten(1)), conv(x))  # flat rows are reshaped to the image


def test_residual_mlp_adds_input_noise_in_training_and_evaluation():
    torch.manual_seed(3)
    x = torch.rand(50, 32, generator=torch.Generator().manual_seed(6))
    noisy = make_encoder("resmlp", (32,), noise=0.05).eval()
    with torch.no_grad():
        a, b = noisy(x), noisy(x)
    assert not torch.equal(a, b)
    assert (a - x).std() == pytest.approx(0.05, rel=0.1)  # at init (weights ~1e-4) g ≈ identity + noise
    clean = make_encoder("resmlp", (32,), noise=0.0)
    with torch.no_grad():
        torch.testing.assert_close(clean(x), clean(x))
        assert (clean(x) - x).abs().max() < 1e-2


def test_bad_encoder_settings_are_clear_errors():
    with pytest.raises(ValueError, match="unknown encoder 'vit'"):
        make_encoder("vit", (4,))
    with pytest.raises(ValueError, match=r"images \[C, H, W\]"):
        make_encoder("conv", (392,))
    with pytest.raises(ValueError, match="dimension >= 2"):
        make_encoder("flow", (1,))
    with pytest.raises(ValueError, match="in_shape"):
        make_encoder("mlp", (0, 3))
