"""Every registered critic scores all K² pairs: output[i, j] = f(u_i, v_j), positives on the diagonal."""

import pytest

torch = pytest.importorskip("torch")

from infomix.core import get_registry  # noqa: E402
from infomix.mi.representation.critics import CRITICS, make_critic  # noqa: E402

DIMS = {"inner": (6, 6), "bilinear": (5, 7), "separable": (5, 7), "concat": (5, 7)}


def test_the_four_critics_are_registered_components():
    names = {c.name for c in get_registry().components("mi.critic")}
    assert set(CRITICS) <= names


@pytest.mark.parametrize("name", list(CRITICS))
def test_scores_are_k_by_k_with_entry_ij_the_pair_score(name):
    torch.manual_seed(0)
    du, dv = DIMS[name]
    critic = make_critic(name, du, dv).double().requires_grad_(False)
    gen = torch.Generator().manual_seed(1)
    k = 11
    u = torch.randn(k, du, generator=gen, dtype=torch.float64)
    v = torch.randn(k, dv, generator=gen, dtype=torch.float64)
    scores = critic(u, v)
    assert scores.shape == (k, k)
    single = torch.tensor(
        [[float(critic(u[i : i + 1], v[j : j + 1])[0, 0]) for j in range(k)] for i in range(k)], dtype=torch.float64
    )
    torch.testing.assert_close(scores.detach(), single, rtol=1e-12, atol=1e-12)
    # positives (u_i, v_i) on the diagonal: permuting v's rows permutes the columns only
    perm = torch.randperm(k, generator=gen)
    torch.testing.assert_close(critic(u, v[perm]).detach(), scores.detach()[:, perm], rtol=1e-12, atol=1e-12)
    assert not torch.allclose(scores, scores.T) or name == "inner"


def test_concat_critic_is_an_mlp_on_the_concatenated_pair():
    torch.manual_seed(2)
    critic = make_critic("concat", 4, 3, hidden=[9, 7]).double().requires_grad_(False)
    gen = torch.Generator().manual_seed(3)
    u, v = torch.randn(8, 4, generator=gen, dtype=torch.float64), torch.randn(8, 3, generator=gen, dtype=torch.float64)
    expected = torch.stack([torch.stack([critic.net(torch.cat([u[i], v[j]]))[0] for j in range(8)]) for i in range(8)])
    torch.testing.assert_close(critic(u, v).detach(), expected.detach(), rtol=1e-12, atol=1e-12)


def test_inner_and_bilinear_closed_forms():
    gen = torch.Generator().manual_seed(4)
    u, v = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    torch.testing.assert_close(make_critic("inner", 3, 3)(u, v), u @ v.T)
    bilinear = make_critic("bilinear", 3, 3)
    torch.testing.assert_close(bilinear(u, v).detach(), (u @ bilinear.w.weight @ v.T).detach())


def test_bad_critics_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown critic 'mlp'.*bilinear"):
        make_critic("mlp", 3, 3)
    with pytest.raises(ValueError, match="equal dimensions"):
        make_critic("inner", 3, 4)
    with pytest.raises(TypeError, match="no parameter 'width'"):
        make_critic("concat", 3, 4, width=8)
