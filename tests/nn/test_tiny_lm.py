"""TinyLM: causality, loss against a float64 log-softmax, rotary relative positions, learning, validation."""

import pytest
import torch

from infomix.core.threads import torch_threads
from infomix.nn import TinyLM, TinyLMConfig
from infomix.nn.tiny_lm import apply_rotary, rotary_tables


@pytest.fixture(autouse=True)
def one_thread():
    """A model this small trains fastest on one thread (and far slower with threads on a busy machine)."""
    with torch_threads(1):
        yield


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TinyLM(TinyLMConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=64))


def test_future_tokens_do_not_change_past_logits(model):
    tokens = torch.randint(0, 256, (2, 20))
    changed = tokens.clone()
    changed[:, 12:] = torch.randint(0, 256, (2, 8))
    a, b = model(tokens), model(changed)
    torch.testing.assert_close(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def test_loss_is_mean_negative_log_likelihood(model):
    tokens = torch.randint(0, 256, (3, 17))
    targets = torch.randint(0, 256, (3, 17))
    targets[0, :4] = -100
    logp = torch.log_softmax(model(tokens).double(), -1)
    keep = targets != -100
    expected = -logp[keep].gather(-1, targets[keep][:, None]).mean()
    torch.testing.assert_close(model.loss(tokens, targets).double(), expected, rtol=1e-5, atol=1e-6)


def test_rotary_scores_depend_only_on_relative_position():
    cos, sin = rotary_tables(40, 8, 10_000.0)
    q, k = torch.randn(8), torch.randn(8)

    def score(m, n):
        qm = apply_rotary(q.expand(1, 1, 40, 8), cos, sin)[0, 0, m]
        kn = apply_rotary(k.expand(1, 1, 40, 8), cos, sin)[0, 0, n]
        return qm @ kn

    torch.testing.assert_close(score(10, 3), score(30, 23), rtol=1e-4, atol=1e-5)
    assert not torch.isclose(score(10, 3), score(10, 4))


def test_learns_a_repeated_text(model):
    text = torch.tensor(list(b"the quick brown fox jumps over the lazy dog. " * 2))[None, :64]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(120):
        loss = model.loss(text[:, :-1], text[:, 1:])
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 5.0  # ~log(256) at initialisation
    assert loss.item() < 1.0


def test_generate_is_reproducible(model):
    prompt = torch.randint(0, 256, (2, 5))
    out = model.generate(prompt, 7, temperature=0.0)
    assert out.shape == (2, 12)
    assert torch.equal(out[:, :5], prompt)
    assert torch.equal(
        model.generate(prompt, 7, temperature=0.8, seed=1), model.generate(prompt, 7, temperature=0.8, seed=1)
    )


def test_validation(model):
    with pytest.raises(ValueError, match="n_heads"):
        TinyLMConfig(n_heads=4, n_kv_heads=3)
    with pytest.raises(ValueError, match="max_seq_len"):
        model(torch.randint(0, 256, (1, 65)))
    with pytest.raises(ValueError, match="token ids"):
        model(torch.full((1, 4), 300))
    with pytest.raises(ValueError, match="integer tensor"):
        model(torch.randn(1, 4))


def test_kernel_and_reference_attention_give_the_same_model(model):
    from infomix.ops._library import use_reference

    tokens = torch.randint(0, 256, (2, 33))
    targets = torch.randint(0, 256, (2, 33))
    loss = model.loss(tokens, targets)
    (grad,) = torch.autograd.grad(loss, model.blocks[0].attn.wq.weight)
    with use_reference():
        ref_loss = model.loss(tokens, targets)
        (ref_grad,) = torch.autograd.grad(ref_loss, model.blocks[0].attn.wq.weight)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-6)
