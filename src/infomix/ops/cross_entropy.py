"""Linear cross-entropy `CE(x Wᵀ + b, y)` that never materialises the N×V logits: front, fake, autograd, module."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from infomix.ops import _library
from infomix.ops.cross_entropy_reference import backward_reference, forward_reference, linear_cross_entropy_autograd

# Written exactly as in csrc/cross_entropy/xent_schema.h (a test checks that they agree).
FWD_SCHEMA = (
    "(Tensor x, Tensor weight, Tensor? bias, Tensor target, int ignore_index, int reduction, "
    "float label_smoothing, float z_loss, float softcap, float filter_eps, bool grad_input, bool grad_weight, "
    "bool grad_bias, bool fp32_accumulation) -> (Tensor, Tensor, Tensor, Tensor, Tensor)"
)
BWD_SCHEMA = (
    "(Tensor grad_loss, Tensor x, Tensor weight, Tensor? bias, Tensor target, "
    "int ignore_index, float label_smoothing, float z_loss, float softcap, float filter_eps, bool grad_input, "
    "bool grad_weight, bool grad_bias, bool fp32_accumulation) -> (Tensor, Tensor, Tensor)"
)
REDUCTIONS = ("none", "mean", "sum")
GRAD_ACCUMULATIONS = ("float32", "input")
AUTO_FILTER_DIVISOR = 64.0  # filter_eps="auto" keeps a row's dropped gradient mass below eps(dtype) / 64
_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)

_fwd = _library.define_op("linear_cross_entropy_fwd", FWD_SCHEMA, forward_reference)
_bwd = _library.define_op("linear_cross_entropy_bwd", BWD_SCHEMA, backward_reference)


@torch.library.register_fake("infomix::linear_cross_entropy_fwd")
def _fwd_fake(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, target: torch.Tensor, ignore_index: int,
    reduction: int, label_smoothing: float, z_loss: float, softcap: float, filter_eps: float, grad_input: bool,
    grad_weight: bool, grad_bias: bool, fp32_accumulation: bool,
) -> tuple[torch.Tensor, ...]:  # fmt: skip
    n = x.shape[0]
    loss = x.new_empty((n,)) if reduction == 0 else x.new_empty(())
    lse = x.new_empty((n,), dtype=torch.float32)
    gx = x.new_empty(x.shape) if grad_input else x.new_empty((0,))
    gw = weight.new_empty(weight.shape) if grad_weight else weight.new_empty((0,))
    gb = x.new_empty((weight.shape[0],)) if grad_bias else x.new_empty((0,))
    return loss, lse, gx, gw, gb


@torch.library.register_fake("infomix::linear_cross_entropy_bwd")
def _bwd_fake(
    grad_loss: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, target: torch.Tensor,
    ignore_index: int, label_smoothing: float, z_loss: float, softcap: float, filter_eps: float, grad_input: bool,
    grad_weight: bool, grad_bias: bool, fp32_accumulation: bool,
) -> tuple[torch.Tensor, ...]:  # fmt: skip
    gx = x.new_empty(x.shape) if grad_input else x.new_empty((0,))
    gw = weight.new_empty(weight.shape) if grad_weight else weight.new_empty((0,))
    gb = x.new_empty((weight.shape[0],)) if grad_bias else x.new_empty((0,))
    return gx, gw, gb


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Any, ...]) -> None:
    x, weight, bias, target, ignore_index, reduction, label_smoothing, z_loss, softcap, filter_eps, *flags = inputs
    gi, gw, gb, acc = flags
    _, _, grad_x, grad_w, grad_b = output
    ctx.set_materialize_grads(False)  # the lse and gradient outputs get no upstream: no zero-filled V×D tensors
    ctx.save_for_backward(x, weight, bias, target, grad_x, grad_w, grad_b)
    ctx.options = (ignore_index, reduction, label_smoothing, z_loss, softcap, filter_eps, acc)
    ctx.computed = (gi, gw, gb)


def _plain_eager_cpu(t: torch.Tensor) -> bool:
    """A real CPU tensor outside any tracing (compile, fake or functional modes): its value may be read."""
    return (
        type(t) is torch.Tensor
        and t.device.type == "cpu"
        and not torch.compiler.is_compiling()
        and torch._C._len_torch_dispatch_stack() == 0
    )


def _backward(ctx: Any, grad_loss: torch.Tensor, *unused: Any) -> tuple[Any, ...]:
    x, weight, bias, target, grad_x, grad_w, grad_b = ctx.saved_tensors
    ignore_index, reduction, label_smoothing, z_loss, softcap, filter_eps, acc = ctx.options
    needed = tuple(ctx.needs_input_grad[:3])
    rest = (None,) * 11
    if grad_loss is None:
        return (None, None, None, *rest)
    if reduction != 0 and all(c or not n for c, n in zip(ctx.computed, needed, strict=True)):
        # Gradients of the reduced loss were formed in the forward pass: scale them by the upstream scalar
        # (in eager mode on CPU an upstream of exactly 1, as from `loss.backward()`, skips that pass).
        unit = _plain_eager_cpu(grad_loss) and bool(grad_loss == 1)
        outs = [
            (g if unit else g * grad_loss) if n else None for g, n in zip((grad_x, grad_w, grad_b), needed, strict=True)
        ]
        return (*outs, *rest)
    # Per-row upstream gradient: recompute the logits block by block.
    n = x.shape[0]
    if reduction == 0:
        rows = grad_loss
    else:
        rows = grad_loss.expand(n)
        if reduction == 1:
            rows = rows / (target != ignore_index).sum()
    gx, gw, gb = _bwd(
        rows.contiguous(), x, weight, bias, target, ignore_index, label_smoothing, z_loss, softcap, filter_eps,
        needed[0], needed[1], needed[2], acc,
    )  # fmt: skip
    return (gx if needed[0] else None, gw if needed[1] else None, gb if needed[2] else None, *rest)


torch.library.register_autograd("infomix::linear_cross_entropy_fwd", _backward, setup_context=_setup_context)


def _fail(message: str) -> None:
    raise ValueError(f"linear_cross_entropy: {message}")


def _validate(
    x: Any, weight: Any, target: Any, bias: Any, reduction: Any, label_smoothing: Any, z_loss: Any, softcap: Any,
    shift: Any, filter_eps: Any, grad_accumulation: Any,
) -> tuple[int, float]:  # fmt: skip
    for name, t in (("x", x), ("weight", weight), ("target", target)):
        if not isinstance(t, torch.Tensor):
            _fail(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if bias is not None and not isinstance(bias, torch.Tensor):
        _fail(f"bias must be a torch.Tensor or None, got {type(bias).__name__}")
    if x.dtype not in _DTYPES:
        _fail(f"x must be float32, float64, bfloat16 or float16, got {x.dtype}")
    if x.dim() < 2:
        _fail(f"x must have shape (..., D) with at least one batch dimension, got {tuple(x.shape)}")
    if weight.dim() != 2 or weight.shape[1] != x.shape[-1]:
        _fail(f"weight must have shape (V, D) with D={x.shape[-1]} (the last dim of x), got {tuple(weight.shape)}")
    if weight.shape[0] == 0:
        _fail("weight must have at least one row (vocabulary size V > 0)")
    if weight.dtype != x.dtype:
        _fail(f"weight dtype {weight.dtype} must equal x dtype {x.dtype}")
    if tuple(target.shape) != tuple(x.shape[:-1]):
        _fail(f"target must have shape {tuple(x.shape[:-1])} (x without its last dim), got {tuple(target.shape)}")
    if target.dtype.is_floating_point or target.dtype.is_complex or target.dtype == torch.bool:
        _fail(f"target must hold integer class indices, got dtype {target.dtype}")
    if bias is not None:
        if tuple(bias.shape) != (weight.shape[0],):
            _fail(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
        if bias.dtype != x.dtype:
            _fail(f"bias dtype {bias.dtype} must equal x dtype {x.dtype}")
    for name, t in (("weight", weight), ("target", target), ("bias", bias)):
        if t is not None and t.device != x.device:
            _fail(f"{name} is on {t.device} but x is on {x.device}; all inputs must share one device")
    if reduction not in REDUCTIONS:
        _fail(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not (isinstance(label_smoothing, (int, float)) and 0.0 <= label_smoothing < 1.0):
        _fail(f"label_smoothing must be a float in [0, 1), got {label_smoothing!r}")
    if not (isinstance(z_loss, (int, float)) and math.isfinite(z_loss) and z_loss >= 0):
        _fail(f"z_loss must be a finite float >= 0, got {z_loss!r}")
    if softcap is not None and not (isinstance(softcap, (int, float)) and math.isfinite(softcap) and softcap > 0):
        _fail(f"softcap must be None or a finite float > 0, got {softcap!r}")
    if isinstance(shift, bool):
        k = int(shift)
    elif isinstance(shift, int) and shift >= 0:
        k = shift
    else:
        _fail(f"shift must be a bool or an int >= 0, got {shift!r}")
    if k > 0 and x.shape[-2] <= k:
        _fail(f"shift={k} needs a sequence dimension (x.shape[-2]={x.shape[-2]}) longer than the shift")
    if filter_eps == "auto":
        eps = float(torch.finfo(x.dtype).eps) / AUTO_FILTER_DIVISOR
    elif filter_eps is None:
        eps = 0.0
    elif isinstance(filter_eps, (int, float)) and not isinstance(filter_eps, bool) and filter_eps >= 0:
        eps = float(filter_eps)
    else:
        _fail(f"filter_eps must be 'auto', None or a float >= 0, got {filter_eps!r}")
    if grad_accumulation not in GRAD_ACCUMULATIONS:
        _fail(f"grad_accumulation must be one of {GRAD_ACCUMULATIONS}, got {grad_accumulation!r}")
    return k, eps


def linear_cross_entropy(
    x: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    shift: bool | int = False,
    filter_eps: float | str | None = "auto",
    grad_accumulation: str = "input",
    return_lse: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the logits `x @ weight.T + bias` against `target`, without forming the N×V logits.

    Shapes: `x` (..., D), `weight` (V, D), `bias` (V,), `target` (...) integer class indices; `x`, `weight`
    and `bias` share a dtype (float32, float64, bfloat16 or float16). Logits are accumulated in float32
    (float64 for float64 inputs); the loss is returned in `x.dtype`.

    Per valid row i (target != ignore_index), with z_ij the logits after the soft cap and
    LSE_i = log Σ_j exp z_ij:

    * softcap s: z = s · tanh((x·Wᵀ + b) / s), applied after the bias (Gemma-2 convention); None disables.
    * label_smoothing ε: loss_i = (1 − ε)(LSE_i − z_{i,y}) + ε(LSE_i − mean_j z_ij), as `F.cross_entropy`.
    * z_loss w: loss_i += w · LSE_i² (the PaLM auxiliary loss, e.g. w = 1e-4), added per row before reduction.
    * reduction: "mean" divides the sum over valid rows by their number (an error when every row is
      ignored), "sum" adds them, "none" returns per-position losses of `target`'s shape (0 where ignored).
    * shift k (True = 1): pairs x[..., t, :] with target[..., t + k] along the sequence dimension (x's
      dim -2) without copying x; the last k positions of each sequence are dropped.
    * filter_eps: gradient filtering. For each block of rows, a vocabulary tile (512 entries on CPU, 64 on
      CUDA) is skipped in the gradient GEMMs when every row's Σ_{j in tile} |∂loss_i/∂z_ij| is below
      filter_eps / (number of tiles), so the gradient mass a row loses over all skipped tiles is below
      filter_eps. "auto" = `torch.finfo(x.dtype).eps / 64` (well below the working precision, also for
      dW, whose columns collect the dropped mass of many rows); None or 0 disables it. Unlike a
      per-entry threshold this cannot drop the bulk of a flat softmax.
    * grad_accumulation (bfloat16/float16 on CPU): "input" (default, as Cut Cross-Entropy's default
      accum_c_fp32=False) adds each row block's weight-gradient product straight into the bfloat16/float16
      gradient (one rounding per block of rows, ~N/128 of them), so the extra memory is the row block alone;
      "float32" sums the blocks in a float32 V×D buffer (twice the gradient's own size) and rounds once.
      float32/float64 inputs and CUDA always accumulate in float32/float64.
    * return_lse: also return LSE_i (float32, shape of the loss rows, 0 where ignored), detached.

    Gradients (x, weight, bias): when the loss is reduced and gradients are required, they are formed in
    the forward pass from each block's logits (6·N·D·V FLOPs in all); with reduction="none" the backward
    pass recomputes the logits block by block. Targets outside [0, V) other than ignore_index, and
    non-finite logits, raise errors.

    Memory (CPU): one row block of logits — float32/float64: 16 MiB but at least 128 rows with gradients,
    8 MiB without; bfloat16/float16:
    kept in that dtype (the GEMM's rounded output, as the materialised `x @ W.T` has it) with the float32
    softmax done row by row in a float32 scratch row per thread, 8 MiB but at least 128 rows with gradients,
    4 MiB without —
    plus, for bfloat16/float16 with grad_accumulation="float32", the V×D float32 weight-gradient buffer.
    `INFOMIX_XENT_BLOCK_BYTES` sets the block size exactly; larger blocks run faster with several threads.
    """
    k, eps = _validate(
        x, weight, target, bias, reduction, label_smoothing, z_loss, softcap, shift, filter_eps, grad_accumulation
    )
    code = REDUCTIONS.index(reduction)
    target = target.long()
    if k > 0:
        pad = target.new_full((*target.shape[:-1], k), ignore_index)
        target = torch.cat([target[..., k:], pad], dim=-1)
    rows_shape = target.shape
    x2 = x.reshape(-1, x.shape[-1])
    t2 = target.reshape(-1)
    cap = 0.0 if softcap is None else float(softcap)
    if _library.reference_forced():
        loss, lse = linear_cross_entropy_autograd(
            x2, weight, bias, t2, ignore_index, reduction, float(label_smoothing), float(z_loss), cap
        )
    else:
        grad_on = torch.is_grad_enabled() and code != 0
        loss, lse, _, _, _ = _fwd(
            x2, weight, bias, t2, ignore_index, code, float(label_smoothing), float(z_loss), cap, eps,
            grad_on and x.requires_grad, grad_on and weight.requires_grad,
            grad_on and bias is not None and bias.requires_grad, grad_accumulation == "float32",
        )  # fmt: skip
    if code == 0:
        loss = loss.view(rows_shape)
        if k > 0:
            loss = loss[..., : rows_shape[-1] - k]
    if not return_lse:
        return loss
    lse = lse.detach().view(rows_shape)
    if k > 0:
        lse = lse[..., : rows_shape[-1] - k]
    return loss, lse


class LinearCrossEntropy(nn.Module):
    """A vocabulary projection (like `nn.Linear(in_features, vocab_size)`) whose forward returns the streamed loss."""

    def __init__(
        self,
        in_features: int,
        vocab_size: int,
        bias: bool = False,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.vocab_size = vocab_size
        self.weight = nn.Parameter(torch.empty(vocab_size, in_features, device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(vocab_size, device=device, dtype=dtype)) if bias else None
        self.options = options
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The full logits (materialised; for generation, not for the loss)."""
        return nn.functional.linear(x, self.weight, self.bias)

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> Any:
        return linear_cross_entropy(x, self.weight, target, bias=self.bias, **self.options)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, vocab_size={self.vocab_size}, bias={self.bias is not None}"
