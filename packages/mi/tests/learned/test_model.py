"""The quantile network: invariances its architecture guarantees, monotone quantiles, the pinball loss."""

import numpy as np
import pytest
import torch

from infomix.core.threads import torch_threads
from infomix.mi.learned.features import gaussian_mi_of_scores
from infomix.mi.learned.model import (
    ModelConfig,
    MultiheadBlock,
    QuantileMINetwork,
    error_scale,
    error_scale_weights,
    head_inputs,
    pinball_loss,
    predict_quantiles,
)
from infomix.ops import use_reference

SMALL = ModelConfig(token_width=16, width=32, heads=4, dim_blocks=1, sample_blocks=2, inducing=8, pool_seeds=2)


def _network(seed: int = 0) -> QuantileMINetwork:
    torch.manual_seed(seed)
    net = QuantileMINetwork(SMALL).eval()
    with torch.no_grad():  # larger weights than at initialisation, so the outputs depend on the inputs
        for p in net.parameters():
            p.mul_(1.5)
    return net


def _sample(b: int, n: int, dx: int, dy: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    zx = torch.randn(b, n, dx, generator=g)
    zy = 0.6 * zx[:, :, :1] + torch.randn(b, n, dy, generator=g)
    return zx, zy, gaussian_mi_of_scores(zx, zy)


def test_sample_permutation_invariance():
    net = _network()
    zx, zy, cop = _sample(3, 57, 2, 3, seed=1)
    perm = torch.randperm(57, generator=torch.Generator().manual_seed(2))
    with torch.no_grad(), torch_threads(1):
        a = net(zx, zy, cop)
        b = net(zx[:, perm], zy[:, perm], gaussian_mi_of_scores(zx[:, perm], zy[:, perm]))
    torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-5)
    assert a.std(dim=0).min() > 1e-4  # the three samples give different outputs: the check is not vacuous


def test_invariance_to_the_order_of_x_columns_and_of_y_columns_only():
    net = _network(3)
    zx, zy, cop = _sample(2, 40, 3, 3, seed=4)
    with torch.no_grad(), torch_threads(1):
        base = net(zx, zy, cop)
        permuted = net(zx[:, :, [2, 0, 1]], zy[:, :, [1, 2, 0]], cop)
        swapped = net(zy, zx, cop)  # x and y exchanged: nothing guarantees the same output (types differ)
    torch.testing.assert_close(base, permuted, atol=2e-5, rtol=1e-5)
    assert (base - swapped).abs().max() > 1e-4


def test_quantiles_increase():
    net = _network(5)
    for dx, dy in ((1, 1), (4, 2)):
        zx, zy, cop = _sample(8, 33, dx, dy, seed=dx)
        with torch.no_grad(), torch_threads(1):
            q = net(zx, zy, cop)
        assert q.shape == (8, len(SMALL.quantiles))
        assert (q.diff(dim=1) > 0).all()


def test_sign_averaged_quantiles_ignore_the_sign_of_y_and_keep_increasing():
    net = _network(6)
    zx, zy, cop = _sample(4, 41, 2, 3, seed=9)
    with torch.no_grad(), torch_threads(1):
        plain = predict_quantiles(net, zx, zy, cop, sign_average=False)
        averaged = predict_quantiles(net, zx, zy, cop, sign_average=True)
        flipped = predict_quantiles(net, zx, -zy, cop, sign_average=True)
        torch.testing.assert_close(plain, net(zx, zy, cop))
        torch.testing.assert_close(averaged, 0.5 * (net(zx, zy, cop) + net(zx, -zy, cop)))
    torch.testing.assert_close(flipped, averaged)
    assert not torch.allclose(plain, averaged, atol=1e-4)  # this network does see the sign: the average matters
    assert (averaged.diff(dim=1) > 0).all()
    with pytest.raises(ValueError, match="must agree in B and n"):
        predict_quantiles(net, zx, zy[:, :40], cop, sign_average=True)


def test_quantile_levels_are_checked():
    with pytest.raises(ValueError, match="quantiles"):
        QuantileMINetwork(ModelConfig(quantiles=(0.1, 0.9)))


def test_pinball_loss_hand_case():
    # u = y − q: level 0.1 with u = +0.5 costs 0.1·0.5; level 0.9 with u = −0.5 costs 0.1·0.5; level 0.5, u = 0.2 → 0.1
    predicted = torch.tensor([[1.0, 2.0, 1.3]])
    levels = torch.tensor([0.1, 0.9, 0.5])
    loss = pinball_loss(predicted, torch.tensor([1.5]), levels)
    assert loss.item() == pytest.approx((0.05 + 0.05 + 0.1) / 3)


def test_pinball_loss_matches_its_definition():
    rng = np.random.default_rng(0)
    pred, target, tau = rng.normal(size=(7, 4)), rng.normal(size=7), rng.uniform(size=4)
    u = target[:, None] - pred
    expected = np.where(u >= 0, tau * u, (tau - 1) * u).mean()
    got = pinball_loss(torch.from_numpy(pred), torch.from_numpy(target), torch.from_numpy(tau))
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_weighted_pinball_loss_is_the_weighted_mean_of_the_examples_losses():
    rng = np.random.default_rng(1)
    pred, target, tau = (
        torch.from_numpy(a) for a in (rng.normal(size=(6, 3)), rng.normal(size=6), rng.uniform(size=3))
    )
    per_example = torch.stack([pinball_loss(pred[i : i + 1], target[i : i + 1], tau) for i in range(6)])
    weights = torch.from_numpy(rng.uniform(0.1, 3.0, size=6))
    expected = (weights * per_example).sum() / weights.sum()
    assert pinball_loss(pred, target, tau, weights).item() == pytest.approx(expected.item(), rel=1e-12)
    # equal weights of any size give the plain mean; a zero weight drops its example
    assert pinball_loss(pred, target, tau, torch.full((6,), 7.0)).item() == pytest.approx(
        pinball_loss(pred, target, tau).item()
    )
    dropped = torch.tensor([0.0, 1, 1, 1, 1, 1], dtype=torch.float64)
    assert pinball_loss(pred, target, tau, dropped).item() == pytest.approx(
        pinball_loss(pred[1:], target[1:], tau).item()
    )


def test_error_scale_weights_follow_the_gaussian_sampling_error():
    copula = torch.tensor([0.0, 0.4, 2.0])
    w100, w5000 = error_scale_weights(copula, 100), error_scale_weights(copula, 5000)
    expected = 1.0 / (np.sqrt((0.1 + copula.numpy()) / 5000) + 0.003)
    np.testing.assert_allclose(w5000.numpy(), expected, rtol=1e-6)
    assert torch.all(w5000 > w100) and torch.all(w100[1:] < w100[:-1])  # more rows, less MI: smaller errors
    assert w5000.dtype == copula.dtype
    with pytest.raises(ValueError, match=r"n \(rows per sample\) must be >= 1"):
        error_scale_weights(copula, 0)


def test_weighted_pinball_loss_names_a_misshapen_weight():
    with pytest.raises(ValueError, match=r"weights must have the targets' shape \(3,\), got \(3, 1\)"):
        pinball_loss(torch.zeros(3, 2), torch.ones(3), torch.tensor([0.1, 0.9]), torch.ones(3, 1))


def test_block_compiled_attention_equals_reference():
    torch.manual_seed(0)
    block = MultiheadBlock(32, 4)
    q, k = torch.randn(5, 7, 32), torch.randn(5, 11, 32)
    out = block(q, k)
    with use_reference():
        ref = block(q, k)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_inference_self_attention_folds_the_norms_without_changing_the_block():
    # no_grad self-attention takes the folded projection (one normalisation, one product); with autograd on it
    # takes the two LayerNorms and two projections: the outputs agree to rounding
    torch.manual_seed(1)
    block = MultiheadBlock(32, 4)
    with torch.no_grad():
        for norm in (block.norm_q, block.norm_kv):  # non-trivial affine maps, so the folding is exercised
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.normal_(0.0, 0.3)
    x = torch.randn(6, 10, 32)
    with torch.no_grad():
        folded = block(x, x)
        cross = block(x, x.clone())  # keys that are not the queries object: the unfolded path
    unfolded = block(x, x).detach()
    torch.testing.assert_close(folded, unfolded, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(cross, unfolded, atol=2e-5, rtol=1e-5)


def test_per_row_stage_gives_the_same_quantiles_in_any_chunk_size(monkeypatch):
    net = _network(7)
    zx, zy, cop = _sample(3, 50, 2, 3, seed=8)
    with torch.no_grad(), torch_threads(1):
        whole = net(zx, zy, cop)
        monkeypatch.setattr("infomix.mi.learned.model.TOKEN_CHUNK", 35)  # 7 rows of 5 tokens a chunk, 22 chunks
        chunked = net(zx, zy, cop)
    torch.testing.assert_close(chunked, whole, atol=2e-5, rtol=1e-5)


def test_t_statistics_inputs_start_at_zero_so_the_network_starts_as_one_without_them():
    plain = _network(7)
    with_t = QuantileMINetwork(ModelConfig(**{**SMALL.to_dict(), "quantiles": SMALL.quantiles, "t_statistics": True}))
    missing, unexpected = with_t.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ["t_gate", "t_input.weight"] and not unexpected
    zx, zy, _ = _sample(2, 60, 2, 2, seed=8)
    stats = head_inputs(with_t.config, zx, zy)
    assert stats.shape == (2, 3) and with_t.statistics == 3
    with torch.no_grad(), torch_threads(1):
        torch.testing.assert_close(with_t.eval()(zx, zy, stats), plain(zx, zy, stats[:, 0]))
        with_t.t_gate.fill_(1.0)  # the median's base moves to the t-copula MI by exactly the difference
        moved = with_t(zx, zy, stats) - plain(zx, zy, stats[:, 0])
    torch.testing.assert_close(moved, stats[:, 1:2].expand(-1, 5), atol=1e-5, rtol=1e-5)
    assert stats[:, 1].abs().max() > 0  # the check is not vacuous
    with pytest.raises(ValueError, match=r"stats must be \[B, 3\]"):
        with_t(zx, zy, stats[:, :1])


def test_width_scaling_starts_as_the_plain_network_and_scales_only_the_gaps():
    plain = _network(9)
    scaled = QuantileMINetwork(ModelConfig(**{**SMALL.to_dict(), "quantiles": SMALL.quantiles, "width_scaling": True}))
    missing, _ = scaled.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["width_exponent"]
    zx, zy, cop = _sample(2, 80, 1, 2, seed=10)
    with torch.no_grad(), torch_threads(1):
        base = plain(zx, zy, cop)
        torch.testing.assert_close(scaled.eval()(zx, zy, cop), base)
        scaled.width_exponent.fill_(1.0)
        wide = scaled(zx, zy, cop)
    relative = error_scale(cop, 80) / error_scale(torch.tensor(0.5), 1000)
    assert (relative > 1.5).all()  # n = 80 is far from the reference n = 1000: the check is not vacuous
    torch.testing.assert_close(wide[:, 2], base[:, 2])  # the median does not move
    torch.testing.assert_close(wide - wide[:, 2:3], (base - base[:, 2:3]) * relative[:, None], atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="n \\(rows per sample\\) must be >= 1"):
        error_scale(cop, 0)
