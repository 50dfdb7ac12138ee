"""Tests of QuantLinear and quantize_: module swapping, filters, outputs vs the dequantised layer, state_dict."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from infomix.nn.quant_linear import QuantLinear, quantize_
from infomix.ops import dequantize, pack


class _Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.attn = nn.Linear(width, width)
        self.up = nn.Linear(width, 2 * width, bias=False)
        self.down = nn.Linear(2 * width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm(x))
        return x + self.down(F.gelu(self.up(x)))


class _Model(nn.Module):
    def __init__(self, width: int = 64, depth: int = 2, vocab: int = 50) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.layers = nn.ModuleList(_Block(width) for _ in range(depth))
        self.head = nn.Linear(width, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
def test_from_linear_computes_the_dequantised_layer(bits: int, symmetric: bool) -> None:
    linear = nn.Linear(96, 33)
    layer = QuantLinear.from_linear(linear, bits, 32, symmetric)
    x = torch.randn(4, 7, 96)
    expected = F.linear(x.double(), layer.dequantized_weight(torch.float64), linear.bias.double())
    torch.testing.assert_close(layer(x).double(), expected, rtol=1e-5, atol=1e-5)
    qw = pack(linear.weight, bits, 32, symmetric)
    assert torch.equal(layer.dequantized_weight(), dequantize(qw))
    # The quantisation error of each output is bounded by half a step per weight times |x|.
    step = qw.scales.double().repeat_interleave(32, dim=1)
    bound = x.double().abs() @ (step / 2).T
    float_out = F.linear(x.double(), linear.weight.double(), linear.bias.double())
    assert bool(((layer(x).double() - float_out).abs() <= bound + 1e-5).all())


def test_gradients_reach_the_input_and_bias_only() -> None:
    layer = QuantLinear.from_linear(nn.Linear(64, 10), 4, 32)
    x = torch.randn(3, 64, requires_grad=True)
    layer(x).pow(2).sum().backward()
    assert x.grad is not None
    assert layer.bias.grad is not None
    assert [name for name, _ in layer.named_parameters()] == ["bias"]


def test_quantize_swaps_matching_layers_by_name_and_type() -> None:
    torch.manual_seed(0)
    model = _Model()
    swapped = quantize_(model, bits=8, group_size=32, exclude=["head"])
    assert swapped == ["layers.0.attn", "layers.0.up", "layers.0.down", "layers.1.attn", "layers.1.up", "layers.1.down"]
    assert not isinstance(model.head, QuantLinear)
    assert isinstance(model.layers[1].up, QuantLinear)
    assert model.layers[1].up.bias is None

    only_mlp = _Model()
    assert quantize_(only_mlp, 4, 32, include=["layers.*.up", "layers.*.down"]) == [
        "layers.0.up",
        "layers.0.down",
        "layers.1.up",
        "layers.1.down",
    ]
    by_fn = _Model()
    assert quantize_(by_fn, 4, 32, filter_fn=lambda name, m: m.out_features == 50) == ["head"]
    assert quantize_(by_fn, 4, 32, filter_fn=lambda name, m: m.out_features == 50) == []  # already quantised

    class Special(nn.Linear):
        pass

    typed = nn.Sequential(nn.Linear(32, 32), Special(32, 32))
    assert quantize_(typed, 4, 32, types=(Special,)) == ["1"]


def test_quantized_model_stays_close_to_the_float_model() -> None:
    torch.manual_seed(0)
    model = _Model()
    tokens = torch.randint(0, 50, (2, 9))
    with torch.no_grad():
        reference = model(tokens)
        quantize_(model, bits=8, group_size=32)
        quantized = model(tokens)
    rel = ((quantized - reference).norm() / reference.norm()).item()
    assert 0 < rel < 0.02


def test_state_dict_round_trip_into_a_fresh_model() -> None:
    torch.manual_seed(0)
    model = _Model()
    quantize_(model, bits=4, group_size=32, symmetric=False, exclude=["head"])
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert state["layers.0.up.qdata"].dtype == torch.uint8

    fresh = _Model()  # other random float weights
    quantize_(fresh, bits=4, group_size=32, symmetric=False, exclude=["head"])
    tokens = torch.randint(0, 50, (3, 5))
    assert not torch.equal(fresh(tokens), model(tokens))
    fresh.load_state_dict(state)
    assert torch.equal(fresh(tokens), model(tokens))

    mismatched = _Model()
    quantize_(mismatched, bits=8, group_size=32, symmetric=False, exclude=["head"])
    with pytest.raises((RuntimeError, ValueError), match=r"size mismatch|saved with"):
        mismatched.load_state_dict(state)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="group_size 48 does not divide in_features 64"):
        quantize_(nn.Sequential(nn.Linear(64, 8)), 4, 48)
    with pytest.raises(TypeError, match=r"types must be nn\.Linear subclasses"):
        quantize_(nn.Sequential(nn.Linear(64, 8)), 4, 32, types=(nn.Conv1d,))
    with pytest.raises(TypeError, match=r"expects an nn\.Linear"):
        QuantLinear.from_linear(nn.Conv1d(3, 3, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bits must be one of"):
        QuantLinear(64, 8, bits=2)
