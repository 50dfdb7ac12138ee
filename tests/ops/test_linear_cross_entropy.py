"""Tests of infomix.ops.linear_cross_entropy against a float64 materialised oracle, plus opcheck, compile and errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import infomix.ops as ops
from infomix.ops import cross_entropy as xent
from infomix.ops.cross_entropy_reference import backward_reference, forward_reference

ROOT = Path(__file__).resolve().parents[2]
TOL = {torch.float32: 1e-5, torch.bfloat16: 2e-2, torch.float64: 1e-10}


@pytest.fixture(autouse=True)
def _small_blocks(monkeypatch):
    """Tiny row blocks (16 rows at V≈1000) so that small tests cross block boundaries of the compiled kernel."""
    monkeypatch.setenv("INFOMIX_XENT_BLOCK_BYTES", "65536")


def make(n, d, v, dtype, *, seed, scale=3.0, bias=False, ignore_frac=0.2, batch=None):
    g = torch.Generator().manual_seed(seed)
    shape = (n,) if batch is None else (batch, n)
    x = torch.randn(*shape, d, generator=g).to(dtype)
    w = (torch.randn(v, d, generator=g) * scale / d**0.5).to(dtype)
    b = (torch.randn(v, generator=g)).to(dtype) if bias else None
    y = torch.randint(0, v, shape, generator=g)
    y[torch.rand(shape, generator=g) < ignore_frac] = -100
    return x, w, b, y


def oracle(x, w, b, y, *, ignore_index=-100, reduction="mean", label_smoothing=0.0, z_loss=0.0, softcap=None, shift=0):
    """Materialised float64 loss with F.cross_entropy (its own label-smoothing code), differentiable."""
    z = F.linear(x.double(), w.double(), None if b is None else b.double())
    if shift:
        z, y = z[..., :-shift, :], y[..., shift:]
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    zf, yf = z.reshape(-1, z.shape[-1]), y.reshape(-1)
    valid = yf != ignore_index
    rows = F.cross_entropy(zf, yf, ignore_index=ignore_index, reduction="none", label_smoothing=label_smoothing)
    lse = torch.logsumexp(zf, dim=1)
    rows = rows + z_loss * lse**2 * valid
    if reduction == "none":
        return rows.view(y.shape), torch.where(valid, lse, 0).view(y.shape)
    total = rows.sum()
    return (total / valid.sum() if reduction == "mean" else total), None


def grads(loss, inputs, upstream=None):
    return torch.autograd.grad(loss, [t for t in inputs if t is not None], upstream)


def assert_close(got, want, dtype):
    tol = TOL[dtype]
    scale = want.abs().max().item() if want.numel() else 1.0
    torch.testing.assert_close(got.double(), want.double(), rtol=tol, atol=tol * max(scale, 1e-30))


OPTIONS = [
    {},
    {"bias": True},
    {"label_smoothing": 0.1},
    {"z_loss": 1e-2},
    {"softcap": 5.0},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"bias": True, "label_smoothing": 0.2, "z_loss": 1e-3, "softcap": 4.0, "reduction": "none"},
    {"ignore_index": 3},
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "plain")
@pytest.mark.parametrize(("n", "d", "v"), [(37, 19, 1031), (5, 8, 7)])
def test_matches_float64_oracle(n, d, v, dtype, opts):
    opts = dict(opts)
    has_bias = opts.pop("bias", False)
    x, w, b, y = make(n, d, v, dtype, seed=n * v + len(opts), bias=has_bias)
    if "ignore_index" in opts:
        y[y == -100] = opts["ignore_index"]
    inputs = [t.requires_grad_() for t in (x, w, b) if t is not None]
    loss = ops.linear_cross_entropy(x, w, y, bias=b, **opts)
    want, _ = oracle(x, w, b, y, **opts)
    assert loss.dtype == dtype
    assert loss.shape == want.shape
    assert_close(loss, want, dtype)
    up = torch.randn(loss.shape, generator=torch.Generator().manual_seed(1)).to(dtype) if loss.dim() else None
    got_g = grads(loss, inputs, up)
    want_g = grads(want, inputs, None if up is None else up.double())
    for g_got, g_want in zip(got_g, want_g, strict=True):
        assert_close(g_got, g_want, dtype)


@pytest.mark.parametrize("opts", [{}, {"bias": True, "softcap": 4.0, "z_loss": 1e-3}], ids=["plain", "all"])
def test_input_dtype_accumulation_of_the_weight_gradient(opts):
    # bf16 with dW summed straight into the bf16 gradient over many row blocks (16 rows each here, the default) stays
    # within bf16 tolerance of the float64 oracle, and differs from grad_accumulation="float32".
    opts = dict(opts)
    x, w, b, y = make(150, 24, 1100, torch.bfloat16, seed=13, bias=opts.pop("bias", False))
    inputs = [t.requires_grad_() for t in (x, w, b) if t is not None]
    got = grads(ops.linear_cross_entropy(x, w, y, bias=b, **opts), inputs)  # the default: grad_accumulation="input"
    fp32 = grads(ops.linear_cross_entropy(x, w, y, bias=b, grad_accumulation="float32", **opts), inputs)
    want = grads(oracle(x, w, b, y, **opts)[0], inputs)
    for g_got, g_fp32, g_want in zip(got, fp32, want, strict=True):
        assert g_got.dtype == g_fp32.dtype == torch.bfloat16
        assert_close(g_got, g_want, torch.bfloat16)
        assert_close(g_fp32, g_want, torch.bfloat16)
    assert torch.equal(got[0], fp32[0])  # dX never crosses row blocks
    assert not torch.equal(got[1], fp32[1])


@pytest.mark.parametrize("shift", [True, 2])
def test_shift_and_lse_on_sequences(shift):
    x, w, b, y = make(9, 16, 300, torch.float32, seed=7, batch=3, bias=True)
    x.requires_grad_()
    k = int(shift)
    loss, lse = ops.linear_cross_entropy(x, w, y, bias=b, shift=shift, reduction="none", return_lse=True)
    want, want_lse = oracle(x, w, b, y, shift=k, reduction="none")
    assert loss.shape == (3, 9 - k) == lse.shape
    assert_close(loss, want, torch.float32)
    assert_close(lse, want_lse, torch.float32)
    assert not lse.requires_grad
    mean = ops.linear_cross_entropy(x, w, y, bias=b, shift=shift)
    want_mean, _ = oracle(x, w, b, y, shift=k)
    assert_close(mean, want_mean, torch.float32)
    assert_close(grads(mean, [x])[0], grads(want_mean, [x])[0], torch.float32)


def test_gradients_only_for_what_requires_them():
    x, w, b, y = make(20, 12, 600, torch.float32, seed=3, bias=True)
    w.requires_grad_()
    loss = ops.linear_cross_entropy(x, w, y, bias=b)
    (gw,) = torch.autograd.grad(loss, [w])
    want, _ = oracle(x, w, b, y)
    assert_close(gw, torch.autograd.grad(want, [w])[0], torch.float32)


def test_gradcheck_float64():
    x, w, b, y = make(6, 5, 40, torch.float64, seed=11, bias=True)
    y[0] = -100
    inputs = (x.requires_grad_(), w.requires_grad_(), b.requires_grad_())
    for opts in ({"reduction": "none", "softcap": 3.0, "label_smoothing": 0.1}, {"z_loss": 0.05, "reduction": "mean"}):
        assert torch.autograd.gradcheck(
            lambda x, w, b, opts=opts: ops.linear_cross_entropy(x, w, y, bias=b, filter_eps=None, **opts), inputs
        )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gradient_filtering_agrees_and_is_bounded(dtype):
    # A confident model (peaked softmax, logit scale ~25, mostly right): most vocabulary tiles carry a
    # negligible gradient mass; a few rows keep a random (wrong) target.
    x, w, _, y = make(40, 32, 2600, dtype, seed=5, scale=25.0, ignore_frac=0.0)
    y = torch.where(torch.arange(40) % 8 == 0, y, (x.double() @ w.double().T).argmax(1))
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()

    def run(eps):
        loss = ops.linear_cross_entropy(xr, wr, y, filter_eps=eps)
        return [g.double() for g in torch.autograd.grad(loss, [xr, wr])]

    exact = run(None)
    auto = run("auto")
    for a, e in zip(auto, exact, strict=True):
        assert_close(a, e, dtype)
    # A large threshold must actually skip tiles, yet each row of dX moves by at most c·eps·max|W_j|
    # (c = 1/N for the mean), the bound the filter is built to guarantee.
    eps = 5e-2
    coarse = run(eps)
    assert not torch.equal(coarse[1], exact[1])
    bound = eps / x.shape[0] * w.double().abs().max().item()
    assert (coarse[0] - exact[0]).abs().max().item() <= bound * (1 + 1e-3) + TOL[dtype] * exact[0].abs().max().item()


def test_opcheck_forward_and_backward():
    x, w, b, y = make(21, 10, 530, torch.float32, seed=2, bias=True)
    fwd = torch.ops.infomix.linear_cross_entropy_fwd.default
    bwd = torch.ops.infomix.linear_cross_entropy_bwd.default
    xr, wr, br = (t.clone().requires_grad_() for t in (x, w, b))
    cases = [
        (xr, wr, br, y, -100, 1, 0.1, 1e-3, 4.0, 1e-7, True, True, True, True),
        (x, w, None, y, -100, 0, 0.0, 0.0, 0.0, 0.0, False, False, False, True),
        (xr, wr, None, y, -100, 2, 0.0, 0.0, 0.0, 1e-7, True, False, False, True),
    ]
    for args in cases:
        torch.library.opcheck(fwd, args)
    grad_rows = torch.randn(21)
    torch.library.opcheck(bwd, (grad_rows, x, w, b, y, -100, 0.1, 1e-3, 4.0, 0.0, True, True, True, True))


def test_compiled_kernel_matches_chunked_reference():
    x, w, b, y = make(45, 24, 1100, torch.float32, seed=9, bias=True)
    args = (x, w, b, y, -100, 1, 0.05, 1e-3, 6.0, 0.0, True, True, True, True)
    got = torch.ops.infomix.linear_cross_entropy_fwd(*args)
    want = forward_reference(*args)
    for g, r in zip(got, want, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-6)
    up = torch.randn(45)
    bargs = (up, x, w, b, y, -100, 0.05, 1e-3, 6.0, 0.0, True, True, True, True)
    for g, r in zip(torch.ops.infomix.linear_cross_entropy_bwd(*bargs), backward_reference(*bargs), strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-6)


def test_use_reference_matches_kernel():
    x, w, b, y = make(30, 16, 700, torch.float32, seed=4, bias=True)
    x.requires_grad_()
    loss = ops.linear_cross_entropy(x, w, y, bias=b, z_loss=1e-3, label_smoothing=0.1)
    with ops._library.use_reference():
        ref = ops.linear_cross_entropy(x, w, y, bias=b, z_loss=1e-3, label_smoothing=0.1)
    assert_close(loss, ref, torch.float32)
    assert_close(grads(loss, [x])[0], grads(ref, [x])[0], torch.float32)


def test_torch_compile_fullgraph_without_graph_breaks():
    torch._dynamo.reset()
    x, w, b, y = make(33, 16, 520, torch.float32, seed=6, bias=True)
    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()

    def step(x, w, b, y):
        return ops.linear_cross_entropy(x, w, y, bias=b, softcap=8.0, z_loss=1e-4)

    compiled = torch.compile(step, fullgraph=True, backend="aot_eager")
    loss = compiled(xr, wr, b, y)
    want = step(x.clone().requires_grad_(), w, b, y)
    assert_close(loss, want, torch.float32)
    gx, gw = torch.autograd.grad(loss, [xr, wr])
    want_ref, _ = oracle(x, w, b, y, softcap=8.0, z_loss=1e-4)
    xd, wd = x.double().requires_grad_(), w.double().requires_grad_()
    want_ref, _ = oracle(xd, wd, b, y, softcap=8.0, z_loss=1e-4)
    wgx, wgw = torch.autograd.grad(want_ref, [xd, wd])
    assert_close(gx, wgx, torch.float32)
    assert_close(gw, wgw, torch.float32)
    with torch.no_grad():
        assert_close(torch.compile(step, fullgraph=True, backend="aot_eager")(x, w, b, y), want, torch.float32)


def test_deterministic():
    x, w, b, y = make(50, 16, 900, torch.float32, seed=8, bias=True)
    args = (x, w, b, y, -100, 1, 0.0, 0.0, 0.0, 1e-7, True, True, True, True)
    a = torch.ops.infomix.linear_cross_entropy_fwd(*args)
    c = torch.ops.infomix.linear_cross_entropy_fwd(*args)
    assert all(torch.equal(u, v) for u, v in zip(a, c, strict=True))


def test_module_wrapper():
    torch.manual_seed(0)
    head = ops.LinearCrossEntropy(16, 300, bias=True, label_smoothing=0.1)
    x = torch.randn(4, 8, 16, requires_grad=True)
    y = torch.randint(0, 300, (4, 8))
    loss = head(x, y)
    want = F.cross_entropy(head.logits(x).reshape(-1, 300), y.reshape(-1), label_smoothing=0.1)
    assert_close(loss, want, torch.float32)
    loss.backward()
    assert head.weight.grad is not None
    assert head.bias.grad is not None
    assert x.grad is not None
    assert "vocab_size=300" in repr(head)


def _bad_cases():
    x, w, _, y = make(8, 4, 10, torch.float32, seed=1)
    return [
        ({"x": x[0]}, "x must have shape"),
        ({"x": x.long()}, "x must be float32"),
        ({"weight": w[:, :3]}, "weight must have shape"),
        ({"weight": w.double()}, "weight dtype"),
        ({"target": y[:4]}, "target must have shape"),
        ({"target": y.float()}, "target must hold integer"),
        ({"bias": torch.zeros(9)}, "bias must have shape"),
        ({"bias": torch.zeros(10, dtype=torch.float64)}, "bias dtype"),
        ({"bias": torch.zeros(10, device="meta")}, "bias is on meta"),
        ({"reduction": "avg"}, "reduction must be one of"),
        ({"label_smoothing": 1.0}, "label_smoothing must be"),
        ({"z_loss": -1.0}, "z_loss must be"),
        ({"softcap": 0.0}, "softcap must be"),
        ({"shift": -1}, "shift must be"),
        ({"shift": 8}, "shift=8 needs a sequence dimension"),
        ({"filter_eps": "fast"}, "filter_eps must be"),
        ({"grad_accumulation": "bf16"}, "grad_accumulation must be one of"),
    ]


@pytest.mark.parametrize(("change", "message"), _bad_cases(), ids=lambda c: str(c)[:40])
def test_bad_inputs_raise_clear_errors(change, message):
    x, w, _, y = make(8, 4, 10, torch.float32, seed=1)
    kwargs = {"x": x, "weight": w, "target": y, **change}
    with pytest.raises(ValueError, match=re.escape(message)):
        ops.linear_cross_entropy(kwargs.pop("x"), kwargs.pop("weight"), kwargs.pop("target"), **kwargs)


@pytest.mark.parametrize("reference", [False, True])
def test_value_errors_from_the_kernels(reference):
    x, w, _, y = make(8, 4, 10, torch.float32, seed=1, ignore_frac=0.0)
    ctx = ops._library.use_reference() if reference else torch.enable_grad()
    with ctx:
        bad = y.clone()
        bad[5] = 10
        with pytest.raises(ValueError, match=r"target\[5\] = 10 is outside \[0, 10\)"):
            ops.linear_cross_entropy(x, w, bad)
        with pytest.raises(ValueError, match="every target equals ignore_index"):
            ops.linear_cross_entropy(x, w, torch.full_like(y, -100))
        # Sum over an all-ignored batch is a well-defined zero.
        assert ops.linear_cross_entropy(x, w, torch.full_like(y, -100), reduction="sum").item() == 0.0
    nan_x = x.clone()
    nan_x[3, 1] = float("nan")
    with pytest.raises(ValueError, match="non-finite log-sum-exp in row 3"):
        ops.linear_cross_entropy(nan_x, w, y)


def test_python_schemas_match_the_compiled_library():
    header = (ROOT / "csrc/cross_entropy/xent_schema.h").read_text()
    literals = {}
    for macro in ("INFOMIX_XENT_FWD_SCHEMA", "INFOMIX_XENT_BWD_SCHEMA"):
        body = header.split(f"#define {macro}")[1].split("\n\n")[0]
        literals[macro] = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body))
    assert literals["INFOMIX_XENT_FWD_SCHEMA"] == "linear_cross_entropy_fwd" + xent.FWD_SCHEMA
    assert literals["INFOMIX_XENT_BWD_SCHEMA"] == "linear_cross_entropy_bwd" + xent.BWD_SCHEMA
    for name, schema in (("linear_cross_entropy_fwd", xent.FWD_SCHEMA), ("linear_cross_entropy_bwd", xent.BWD_SCHEMA)):
        registered = getattr(torch.ops.infomix, name).default._schema
        assert registered == torch._C.parse_schema(f"infomix::{name}{schema}")


def test_compiled_cpu_kernel_is_registered():
    if not ops.build_info()["compiled"]:
        pytest.skip("the compiled library is not installed; the reference kernels are in use")
    assert ops.has_kernel("linear_cross_entropy_fwd", "CPU")
    assert "cross_entropy" in ops.build_info()["cpu_kernels"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("opts", OPTIONS[:8], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "plain")
def test_cuda_matches_float64_oracle(dtype, opts):
    opts = dict(opts)
    has_bias = opts.pop("bias", False)
    x, w, b, y = make(53, 40, 1037, dtype, seed=17, bias=has_bias)
    cuda = [t.cuda().requires_grad_() for t in (x, w, b) if t is not None]
    xc, wc = cuda[0], cuda[1]
    bc = cuda[2] if has_bias else None
    loss = ops.linear_cross_entropy(xc, wc, y.cuda(), bias=bc, **opts)
    inputs = [t.requires_grad_() for t in (x, w, b) if t is not None]
    want, _ = oracle(x, w, b, y, **opts)
    assert_close(loss.cpu(), want, dtype)
    up = torch.randn(loss.shape, generator=torch.Generator().manual_seed(1)).to(dtype) if loss.dim() else None
    got_g = grads(loss, cuda, None if up is None else up.cuda())
    want_g = grads(want, inputs, None if up is None else up.double())
    for g_got, g_want in zip(got_g, want_g, strict=True):
        assert_close(g_got.cpu(), g_want, dtype)
