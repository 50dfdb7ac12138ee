"""infomix.ops.attention: kernels and reference against a float64 materialised oracle, registration, validation."""

import importlib
import itertools
import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import infomix.ops
from infomix.ops import _library
from infomix.ops.attention import Attention, attention

ROOT = Path(__file__).resolve().parents[2]
attention_module = importlib.import_module("infomix.ops.attention")  # the package re-exports a function of that name
CUDA = torch.cuda.is_available()


# ---------------------------------------------------------------------------------------------------------------
# The oracle: float64, one head and one sequence at a time, masks written from the public definition.
def _allowed(qn, kn, causal, window, pad):
    pos = torch.arange(qn).unsqueeze(1) + (kn - qn)  # key position of each query (end-aligned)
    j = torch.arange(kn).unsqueeze(0)
    ok = torch.ones(qn, kn, dtype=torch.bool)
    if causal:
        ok &= j <= pos
    if isinstance(window, int):
        ok &= (j - pos).abs() <= window
    elif window is not None:
        left, right = window
        if left is not None:
            ok &= j >= pos - left
        if right is not None:
            ok &= j <= pos + right
    if pad is not None:
        ok &= ~pad.unsqueeze(0)
    return ok


def oracle(
    q,
    k,
    v,
    *,
    causal=False,
    scale=None,
    window=None,
    softcap=None,
    cu_seqlens_q=None,
    cu_seqlens_k=None,
    key_padding_mask=None,
):
    q, k, v = q.double(), k.double(), v.double()
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    group = q.shape[1] // k.shape[1]
    if cu_seqlens_q is None and cu_seqlens_k is None:
        segs = [(b, 0, q.shape[2], 0, k.shape[2]) for b in range(q.shape[0])]
    else:
        cq = (cu_seqlens_q if cu_seqlens_q is not None else cu_seqlens_k).tolist()
        ck = (cu_seqlens_k if cu_seqlens_k is not None else cu_seqlens_q).tolist()
        segs = [(0, cq[i], cq[i + 1] - cq[i], ck[i], ck[i + 1] - ck[i]) for i in range(len(cq) - 1)]
    outs, lses, ents = {}, {}, {}
    for b, q0, qn, k0, kn in segs:
        pad = None if key_padding_mask is None else key_padding_mask[b, k0 : k0 + kn]
        ok = _allowed(qn, kn, causal, window, pad)
        rows = ok.any(1)
        idx = rows.nonzero().squeeze(1)
        for h in range(q.shape[1]):
            qs, ks, vs = q[b, h, q0 : q0 + qn], k[b, h // group, k0 : k0 + kn], v[b, h // group, k0 : k0 + kn]
            s = (qs @ ks.T) * scale
            if softcap is not None:
                s = softcap * torch.tanh(s / softcap)
            s = s[idx].masked_fill(~ok[idx], float("-inf"))
            logp = torch.log_softmax(s, dim=-1)
            p = logp.exp()
            out = torch.zeros(qn, q.shape[-1], dtype=torch.float64).index_put((idx,), p @ vs)
            lse = torch.full((qn,), float("-inf"), dtype=torch.float64).index_put((idx,), torch.logsumexp(s, -1))
            ent = torch.zeros(qn, dtype=torch.float64).index_put((idx,), -(p * logp.masked_fill(~ok[idx], 0)).sum(-1))
            outs[b, h, q0] = out
            lses[b, h, q0] = lse
            ents[b, h, q0] = ent

    def gather(parts, like_shape):
        rows = []
        for b in range(like_shape[0]):
            heads = []
            for h in range(like_shape[1]):
                pieces = [parts[bb, hh, q0] for (bb, hh, q0) in sorted(parts) if bb == b and hh == h]
                heads.append(torch.cat(pieces, 0))
            rows.append(torch.stack(heads))
        return torch.stack(rows)

    return gather(outs, q.shape), gather(lses, q.shape), gather(ents, q.shape)


def make_inputs(batch, hq, hkv, sq, sk, d, dtype, device="cpu", seed=0):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, hq, sq, d, generator=gen, dtype=torch.float64)
    k = torch.randn(batch, hkv, sk, d, generator=gen, dtype=torch.float64)
    v = torch.randn(batch, hkv, sk, d, generator=gen, dtype=torch.float64)
    return [t.to(dtype).to(device) for t in (q, k, v)]


def check_against_oracle(q, k, v, fwd_tol, grad_tol, **options):
    """Forward (out, lse, entropy) and the gradients of a random loss on all three outputs vs the oracle."""
    leaves = [t.detach().clone().requires_grad_() for t in (q, k, v)]
    out, lse, ent = attention(*leaves, return_lse=True, return_entropy=True, **options)
    ref_leaves = [t.detach().double().cpu().requires_grad_() for t in (q, k, v)]
    cpu_opts = {key: (val.cpu() if isinstance(val, torch.Tensor) else val) for key, val in options.items()}
    r_out, r_lse, r_ent = oracle(*ref_leaves, **cpu_opts)
    seen = torch.isfinite(r_lse)
    torch.testing.assert_close(out.double().cpu(), r_out, **fwd_tol)
    assert torch.equal(torch.isfinite(lse).cpu(), seen), "rows that see no key must have lse = -inf"
    torch.testing.assert_close(lse.double().cpu()[seen], r_lse[seen], **fwd_tol)
    torch.testing.assert_close(ent.double().cpu(), r_ent, **fwd_tol)
    gen = torch.Generator().manual_seed(1)
    g_out = torch.randn(r_out.shape, generator=gen, dtype=torch.float64)
    g_lse = torch.randn(r_lse.shape, generator=gen, dtype=torch.float64) * seen
    g_ent = torch.randn(r_ent.shape, generator=gen, dtype=torch.float64)

    def loss(o, l_, e, dtype, device):
        safe = torch.where(torch.isfinite(l_), l_, torch.zeros_like(l_))
        return (
            (o * g_out.to(dtype).to(device)).sum()
            + (safe * g_lse.to(l_.dtype).to(device)).sum()
            + (e * g_ent.to(e.dtype).to(device)).sum()
        )

    grads = torch.autograd.grad(loss(out, lse, ent, q.dtype, q.device), leaves)
    r_grads = torch.autograd.grad(loss(r_out, r_lse, r_ent, torch.float64, "cpu"), ref_leaves)
    for name, g, r in zip("qkv", grads, r_grads, strict=True):
        assert g.dtype == q.dtype, f"d{name} dtype"
        torch.testing.assert_close(g.double().cpu(), r, **grad_tol, msg=lambda m, n=name: f"d{n}: {m}")


FP32 = ({"atol": 2e-5, "rtol": 2e-5}, {"atol": 1e-4, "rtol": 1e-4})
BF16 = ({"atol": 3e-2, "rtol": 2e-2}, {"atol": 6e-2, "rtol": 3e-2})
FP64 = ({"atol": 1e-10, "rtol": 1e-10}, {"atol": 1e-9, "rtol": 1e-9})


def masking_options(kind, batch, sq, sk):
    gen = torch.Generator().manual_seed(7)
    if kind == "padding":
        pad = torch.rand(batch, sk, generator=gen) < 0.3
        pad[0, :] = True  # batch row 0 sees no key at all
        return {"key_padding_mask": pad}, batch
    if kind == "varlen":  # four packed sequences, one empty on the query side, one empty on the key side
        cq = torch.tensor([0, 5, 5, sq - 9, sq], dtype=torch.int32)
        ck = torch.tensor([0, 17, 40, 40, sk], dtype=torch.int64)
        return {"cu_seqlens_q": cq, "cu_seqlens_k": ck}, 1
    return {}, batch


COMBOS = list(
    itertools.product([False, True], [None, 3, (9, None), (None, 2)], [None, 4.0], ["none", "padding", "varlen"])
)


@pytest.mark.parametrize(("causal", "window", "softcap", "masking"), COMBOS)
def test_every_option_combination_matches_the_oracle_fp32(causal, window, softcap, masking):
    extra, batch = masking_options(masking, 2, 37, 53)
    q, k, v = make_inputs(batch, 4, 2, 37, 53, 8, torch.float32)
    check_against_oracle(q, k, v, *FP32, causal=causal, window=window, softcap=softcap, scale=0.3, **extra)


@pytest.mark.parametrize(("causal", "window", "softcap", "masking"), COMBOS[::5])
def test_reference_matches_the_oracle(causal, window, softcap, masking):
    extra, batch = masking_options(masking, 2, 37, 53)
    q, k, v = make_inputs(batch, 4, 2, 37, 53, 8, torch.float64)
    with infomix.ops._library.use_reference():
        check_against_oracle(q, k, v, *FP64, causal=causal, window=window, softcap=softcap, **extra)


SHAPES = [  # (batch, Hq, Hkv, S_q, S_k, d): odd lengths across tile edges, S_q != S_k, GQA and MQA
    (1, 3, 3, 130, 1100, 16),
    (2, 6, 2, 1100, 190, 24),
    (1, 4, 1, 515, 515, 64),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("options", [{}, {"causal": True}, {"causal": True, "window": 200, "softcap": 20.0}])
def test_multi_tile_shapes_match_the_oracle_fp32(shape, options):
    q, k, v = make_inputs(*shape, torch.float32, seed=3)
    check_against_oracle(q, k, v, *FP32, **options)


# (shape, options): d = 64, 24 and 80 (partial 16-lane vectors, two column blocks), every mask, saturated softcap
ISA_CASES = [
    ((1, 2, 1, 200, 330, 64), {"causal": True, "softcap": 5.0}),
    ((2, 2, 1, 100, 300, 24), {"window": (40, 9), "softcap": 2.0, "scale": 3.0, "padding": True}),
    ((1, 2, 1, 400, 400, 80), {"cu_seqlens_q": [0, 150, 151, 400], "cu_seqlens_k": [0, 200, 220, 400]}),
]


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
@pytest.mark.parametrize(("shape", "options"), ISA_CASES)
def test_each_cpu_kernel_set_matches_the_oracle(isa, shape, options, monkeypatch):
    # INFOMIX_ATTENTION_ISA=scalar / =avx2 cap the float kernels at BLAS tiles with scalar / AVX2 row passes; avx512
    # (as unset) takes the widest the CPU runs, the AVX-512 register tiles where it has them
    if not infomix.ops.build_info()["compiled"]:
        pytest.skip("compiled library not available")
    monkeypatch.setenv("INFOMIX_ATTENTION_ISA", isa)
    options = dict(options)
    if options.pop("padding", False):
        options["key_padding_mask"] = torch.rand(shape[0], shape[4], generator=torch.Generator().manual_seed(8)) < 0.4
    for key in ("cu_seqlens_q", "cu_seqlens_k"):
        if key in options:
            options[key] = torch.tensor(options[key])
    q, k, v = make_inputs(*shape, torch.float32, seed=13)
    check_against_oracle(q, k, v, *FP32, **options)


# short sequences (S_q, S_k <= 32; no packing, padding, window or softcap) take the one-block-per-(b, h) path:
# compile-time head sizes 8/16/32/64 and the general one (24), GQA, a single key, S_q != S_k
SHORT_SHAPES = [
    (3, 4, 4, 10, 10, 8),
    (2, 6, 2, 7, 32, 16),
    (2, 2, 1, 32, 1, 24),
    (1, 4, 2, 5, 13, 64),
    (2, 2, 2, 3, 9, 32),
]


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
@pytest.mark.parametrize("shape", SHORT_SHAPES)
def test_short_sequences_match_the_oracle(isa, shape, monkeypatch):
    monkeypatch.setenv("INFOMIX_ATTENTION_ISA", isa)
    q, k, v = make_inputs(*shape, torch.float32, seed=21)
    check_against_oracle(q, k, v, *FP32, scale=0.7)


def test_short_sequences_in_float64_are_exact_to_rounding():
    q, k, v = make_inputs(2, 4, 2, 12, 30, 24, torch.float64, seed=22)
    check_against_oracle(q, k, v, *FP64)


def test_short_sequences_in_bf16_compute_in_float32():
    q, k, v = make_inputs(3, 4, 2, 10, 10, 8, torch.bfloat16, seed=23)
    check_against_oracle(q, k, v, *BF16)


def test_head_split_views_are_read_in_place():
    # a block's [B, S, H, d] projections seen as [B, H, S, d]: not contiguous; the short path reads them through
    # their strides and must give exactly what the contiguous copies give, the long path copies them first
    for length in (10, 40):
        x = torch.randn(3, length, 3, 4, 8, generator=torch.Generator().manual_seed(length))
        q, k, v = (x[:, :, i].transpose(1, 2) for i in range(3))
        assert not q.is_contiguous()
        views = attention(q, k, v, return_lse=True, return_entropy=True)
        copies = attention(q.contiguous(), k.contiguous(), v.contiguous(), return_lse=True, return_entropy=True)
        for got, want in zip(views, copies, strict=True):
            assert torch.equal(got, want)
        check_against_oracle(q, k, v, *FP32)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"causal": True},
        {"window": (40, 5), "softcap": 3.0},
        {"cu_seqlens_q": torch.tensor([0, 60, 150]), "cu_seqlens_k": torch.tensor([0, 200, 530]), "causal": True},
    ],
)
def test_bf16_matches_the_oracle(options):
    batch = 1 if "cu_seqlens_q" in options else 2
    q, k, v = make_inputs(batch, 4, 2, 150, 530, 32, torch.bfloat16, seed=5)
    check_against_oracle(q, k, v, *BF16, **options)


def test_float64_kernel_is_exact_to_rounding():
    q, k, v = make_inputs(2, 4, 2, 70, 600, 16, torch.float64, seed=11)
    check_against_oracle(q, k, v, *FP64, causal=True, window=(300, None), softcap=6.0)


# ---------------------------------------------------------------------------------------------------------------
def test_uniform_attention_has_closed_form_output_and_entropy():
    """Identical keys give uniform attention: out = mean of visible values, entropy = log(#visible keys)."""
    gen = torch.Generator().manual_seed(2)
    q = torch.randn(1, 2, 9, 8, generator=gen)
    k = torch.randn(1, 1, 1, 8, generator=gen).expand(1, 1, 20, 8).contiguous()
    v = torch.randn(1, 1, 20, 8, generator=gen)
    out, lse, ent = attention(q, k, v, causal=True, window=(4, None), return_lse=True, return_entropy=True)
    pos = torch.arange(9) + 11
    for i in range(9):
        lo = max(0, int(pos[i]) - 4)
        n = int(pos[i]) - lo + 1
        torch.testing.assert_close(out[0, :, i], v[0, 0, lo : lo + n].mean(0).expand(2, 8), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ent[0, :, i], torch.full((2,), math.log(n)), atol=1e-5, rtol=1e-5)
        logit = (q[0, :, i] @ k[0, 0, 0]) / math.sqrt(8)
        torch.testing.assert_close(lse[0, :, i], logit + math.log(n), atol=1e-5, rtol=1e-5)


def test_queries_that_see_no_key_give_zeros_and_zero_gradients():
    q, k, v = make_inputs(1, 2, 2, 12, 5, 4, torch.float32)  # causal, S_q > S_k: the first 7 queries see nothing
    q.requires_grad_()
    out, lse = attention(q, k, v, causal=True, return_lse=True)
    assert torch.equal(out[:, :, :7], torch.zeros_like(out[:, :, :7]))
    assert torch.isinf(lse[:, :, :7]).all()
    assert torch.isfinite(lse[:, :, 7:]).all()
    out.sum().backward()
    assert torch.equal(q.grad[:, :, :7], torch.zeros_like(q.grad[:, :, :7]))
    assert torch.isfinite(q.grad).all()


def test_matches_sdpa_on_its_own_cases():
    q, k, v = make_inputs(2, 8, 2, 200, 200, 32, torch.float32, seed=4)
    for causal in (False, True):
        ours = attention(q, k, v, causal=causal, scale=0.2)
        theirs = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=0.2, enable_gqa=True)
        torch.testing.assert_close(ours, theirs, atol=2e-5, rtol=2e-5)


def test_outputs_follow_the_return_flags():
    q, k, v = make_inputs(1, 2, 2, 5, 6, 4, torch.float32)
    assert isinstance(attention(q, k, v), torch.Tensor)
    out, lse = attention(q, k, v, return_lse=True)
    assert lse.shape == (1, 2, 5)
    assert lse.dtype == torch.float32
    out2, ent = attention(q, k, v, return_entropy=True)
    assert ent.shape == (1, 2, 5)
    assert torch.equal(out, out2)
    assert len(attention(q, k, v, return_lse=True, return_entropy=True)) == 3


# ---------------------------------------------------------------------------------------------------------------
def test_compiled_schemas_agree_with_the_python_ones():
    header = (ROOT / "csrc/attention/attention.h").read_text()
    cpp = {
        m.group(1): "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2)))
        for m in re.finditer(r"constexpr const char\* (k\w+Schema) =(.*?);", header, re.S)
    }
    assert cpp["kForwardSchema"] == "attention_fwd" + attention_module.FORWARD_SCHEMA
    assert cpp["kBackwardSchema"] == "attention_bwd" + attention_module.BACKWARD_SCHEMA
    for name, schema in (
        ("attention_fwd", attention_module.FORWARD_SCHEMA),
        ("attention_bwd", attention_module.BACKWARD_SCHEMA),
    ):
        registered = getattr(torch.ops.infomix, name).default._schema
        assert str(registered) == str(torch._C.parse_schema(f"infomix::{name}{schema}"))


def test_cpu_kernel_is_compiled():
    if not infomix.ops.build_info()["compiled"]:
        pytest.skip("compiled library not available")
    assert _library.has_kernel("attention_fwd", "CPU")
    assert _library.has_kernel("attention_bwd", "CPU")
    assert "attention" in infomix.ops.build_info()["cpu_kernels"]


def _op_args(with_varlen=False, entropy=True, dtype=torch.float32):
    batch = 1 if with_varlen else 2
    q, k, v = make_inputs(batch, 4, 2, 9, 11, 8, dtype)
    cu_q = torch.tensor([0, 4, 9]) if with_varlen else None
    cu_k = torch.tensor([0, 6, 11]) if with_varlen else None
    pad = None if with_varlen else torch.rand(batch, 11, generator=torch.Generator().manual_seed(0)) < 0.3
    return [q.requires_grad_(), k.requires_grad_(), v.requires_grad_(), cu_q, cu_k, pad, 0.4, 5, 0, 2.5, entropy]


@pytest.mark.parametrize(("with_varlen", "entropy"), [(False, True), (True, True), (False, False)])
def test_opcheck_forward(with_varlen, entropy):
    torch.library.opcheck(torch.ops.infomix.attention_fwd.default, _op_args(with_varlen, entropy))


@pytest.mark.parametrize("entropy", [True, False])
def test_opcheck_forward_short_path_on_head_split_views(entropy):
    x = torch.randn(2, 9, 3, 4, 8, generator=torch.Generator().manual_seed(3))
    q, k, v = (x[:, :, i].transpose(1, 2).requires_grad_() for i in range(3))
    args = [q, k, v, None, None, None, 0.4, -1, -1, 0.0, entropy]
    torch.library.opcheck(torch.ops.infomix.attention_fwd.default, args)


def test_opcheck_backward():
    q, k, v, cu_q, cu_k, pad, scale, left, right, cap, _ = _op_args()
    out, lse, ent = torch.ops.infomix.attention_fwd(q, k, v, cu_q, cu_k, pad, scale, left, right, cap, True)
    args = [
        torch.randn_like(out),
        torch.randn_like(lse),
        torch.randn_like(ent),
        q.detach(),
        k.detach(),
        v.detach(),
        out.detach(),
        lse.detach(),
        ent.detach(),
        cu_q,
        cu_k,
        pad,
        scale,
        left,
        right,
        cap,
    ]
    torch.library.opcheck(torch.ops.infomix.attention_bwd.default, args)


@pytest.mark.parametrize(
    "options",
    [
        {"causal": True},
        {"window": (2, 3), "softcap": 1.5, "scale": 0.7},
        {"cu_seqlens_q": torch.tensor([0, 3, 7]), "cu_seqlens_k": torch.tensor([0, 5, 9]), "causal": True},
        {"key_padding_mask": torch.tensor([[False, True, False, False, True, False, False, False, True]] * 2)},
    ],
)
def test_gradcheck_float64(options):
    batch = 1 if "cu_seqlens_q" in options else 2
    q, k, v = make_inputs(batch, 2, 1, 7, 9, 3, torch.float64, seed=9)

    def fn(q, k, v):
        out, lse, ent = attention(q, k, v, return_lse=True, return_entropy=True, **options)
        return out, torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse)), ent

    assert torch.autograd.gradcheck(fn, (q.requires_grad_(), k.requires_grad_(), v.requires_grad_()))


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda q, k, v: attention(q[0], k, v), ValueError, "q must be 4-D"),
        (lambda q, k, v: attention(q.int(), k, v), TypeError, "q must be float16"),
        (lambda q, k, v: attention(q, k.double(), v), TypeError, "share a dtype"),
        (lambda q, k, v: attention(q, k, v[:, :, :-1]), ValueError, "k and v must have the same shape"),
        (lambda q, k, v: attention(q[:, :3], k, v), ValueError, r"multiple of k/v heads"),
        (lambda q, k, v: attention(q[..., :4], k, v), ValueError, "head_dim"),
        (lambda q, k, v: attention(q, k, v, window=-2), ValueError, "window left"),
        (lambda q, k, v: attention(q, k, v, window="x"), TypeError, "window must be"),
        (lambda q, k, v: attention(q, k, v, softcap=0.0), ValueError, "softcap"),
        (lambda q, k, v: attention(q, k, v, scale=float("nan")), ValueError, "scale"),
        (lambda q, k, v: attention(q, k, v, key_padding_mask=torch.ones(2, 11)), TypeError, "key_padding_mask"),
        (
            lambda q, k, v: attention(q, k, v, key_padding_mask=torch.ones(2, 7, dtype=torch.bool)),
            ValueError,
            r"key_padding_mask must have shape \(2, 11\)",
        ),
        (lambda q, k, v: attention(q, k, v, cu_seqlens_q=torch.tensor([0, 9])), ValueError, "batch size 1"),
        (
            lambda q, k, v: attention(
                q[:1], k[:1], v[:1], cu_seqlens_q=torch.tensor([0, 5, 3, 9]), cu_seqlens_k=torch.tensor([0, 2, 2, 11])
            ),
            ValueError,
            "non-decreasing",
        ),
        (
            lambda q, k, v: attention(q[:1], k[:1], v[:1], cu_seqlens_q=torch.tensor([0, 9])),
            ValueError,
            "packed length 11",
        ),
        (
            lambda q, k, v: attention(q[:1], k[:1], v[:1], cu_seqlens_q=torch.tensor([0.0, 9.0])),
            ValueError,
            "int32/int64",
        ),
        (
            lambda q, k, v: attention(q.index_fill(2, torch.tensor([3]), float("nan")), k, v),
            ValueError,
            "q contains NaN",
        ),
        (  # kv head 1 of 2 (GQA): screened once per kv head
            lambda q, k, v: attention(q, k.index_fill(1, torch.tensor([1]), float("nan")), v),
            ValueError,
            "k contains NaN",
        ),
        (
            lambda q, k, v: attention(q, k, v.index_fill(2, torch.tensor([10]), float("nan"))),
            ValueError,
            "v contains NaN",
        ),
        (  # the long (tiled) path screens too
            lambda q, k, v: attention(q, k, v.index_fill(2, torch.tensor([10]), float("nan")), softcap=30.0),
            ValueError,
            "v contains NaN",
        ),
    ],
)
def test_bad_inputs_raise_clear_errors(call, error, match):
    q, k, v = make_inputs(2, 4, 2, 9, 11, 8, torch.float32)
    with pytest.raises(error, match=match):
        call(q, k, v)


# ---------------------------------------------------------------------------------------------------------------
def test_attention_module_matches_a_hand_written_block():
    torch.manual_seed(0)
    block = Attention(48, num_heads=6, num_kv_heads=2, causal=True)
    x = torch.randn(3, 21, 48, requires_grad=True)
    pad = torch.rand(3, 21) < 0.2
    pad[:, -1] = False
    y = block(x, key_padding_mask=pad)
    q = block.q_proj(x).view(3, 21, 6, 8).transpose(1, 2)
    kv = block.kv_proj(x).view(3, 21, 2, 2, 8)
    k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)
    mask = torch.ones(21, 21, dtype=torch.bool).tril() & ~pad[:, None, None, :]
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
    ref = torch.nan_to_num(ref)  # rows that see no key: zeros, as ours
    expected = block.out_proj(ref.transpose(1, 2).reshape(3, 21, 48))
    torch.testing.assert_close(y, expected, atol=2e-5, rtol=2e-5)
    (g_ours,) = torch.autograd.grad(y.square().sum(), block.q_proj.weight)
    (g_ref,) = torch.autograd.grad(expected.square().sum(), block.q_proj.weight)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-4, rtol=1e-4)


def test_attention_module_rejects_bad_configuration():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        Attention(50, num_heads=6)
    with pytest.raises(ValueError, match="multiple of num_kv_heads"):
        Attention(48, num_heads=6, num_kv_heads=4)
    with pytest.raises(ValueError, match=r"x must be \[batch, seq, 48\]"):
        Attention(48, num_heads=6)(torch.randn(2, 5, 40))


# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"causal": True},
        {"window": (50, 10), "softcap": 10.0},
        {
            "cu_seqlens_q": torch.tensor([0, 70, 250], device="cuda" if CUDA else "cpu"),
            "cu_seqlens_k": torch.tensor([0, 100, 300], device="cuda" if CUDA else "cpu"),
            "causal": True,
        },
    ],
)
def test_cuda_matches_the_oracle(dtype, options):
    assert _library.has_kernel("attention_fwd", "CUDA")
    batch = 1 if "cu_seqlens_q" in options else 2
    q, k, v = make_inputs(batch, 4, 2, 250, 300, 64, dtype, device="cuda")
    tol = FP32 if dtype == torch.float32 else BF16
    check_against_oracle(q, k, v, *tol, **options)
