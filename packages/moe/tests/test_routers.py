"""Top-k router: weights, expert choice, load-balance and z-loss conventions, gradients."""

import pytest
import torch

from infomix.moe import TopKRouter, load_balance_loss, router_z_loss


@pytest.fixture
def router():
    torch.manual_seed(0)
    return TopKRouter(dim=16, num_experts=6, k=2)


def test_weights_and_experts(router):
    x = torch.randn(3, 7, 16)
    r = router(x)
    assert r.weights.shape == (21, 2) and r.experts.shape == (21, 2)
    torch.testing.assert_close(r.weights.sum(-1), torch.ones(21))
    expected = torch.topk(torch.softmax(router.gate(x.reshape(-1, 16)), -1), 2).indices
    assert torch.equal(r.experts, expected)


def test_unnormalized_weights_are_softmax_probabilities(router):
    router.normalize = False
    r = router(torch.randn(10, 16))
    torch.testing.assert_close(r.weights, torch.gather(r.probs, 1, r.experts))


def test_load_balance_loss_extremes():
    t, e = 600, 6
    uniform_probs = torch.full((t, e), 1 / e)
    balanced = torch.arange(t).remainder(e)[:, None]
    assert load_balance_loss(uniform_probs, balanced, e).item() == pytest.approx(1.0)
    collapsed_probs = torch.zeros(t, e)
    collapsed_probs[:, 2] = 1.0
    assert load_balance_loss(collapsed_probs, torch.full((t, 1), 2), e).item() == pytest.approx(e)


def test_z_loss_formula_and_gradients_reach_the_gate(router):
    x = torch.randn(32, 16)
    r = router(x)
    torch.testing.assert_close(r.z_loss, torch.logsumexp(router.gate(x), -1).pow(2).mean())
    (r.load_balance_loss + 0.1 * r.z_loss + r.weights.sum()).backward()
    assert router.gate.weight.grad is not None and torch.isfinite(router.gate.weight.grad).all()
    assert router.gate.weight.grad.abs().sum() > 0
    torch.testing.assert_close(router_z_loss(r.logits), r.z_loss)


def test_validation(router):
    with pytest.raises(ValueError, match="last dimension 16"):
        router(torch.randn(4, 15))
    with pytest.raises(ValueError, match="k <= num_experts"):
        TopKRouter(num_experts=2, k=3)
