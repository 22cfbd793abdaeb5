"""Exact fixed-point convolutions for entropy models (the same arithmetic as the hyperprior's fixed-point synthesis).

Weights are integers in units of 2**-WEIGHT_BITS (|w| < 8), activations integers in units of 2**-ACT_BITS, biases in
units of 2**-(WEIGHT_BITS + ACT_BITS). A layer sums its convolutions and bias, floors back to 2**-ACT_BITS units
(a division by a power of two: exact), applies its activation in integers and clamps to +-ACT_LIMIT. Convolutions
run in float64 on integer-valued tensors: with |activation| <= 2**26, |weight| < 2**15 and at most 2**11 terms per
sum, every partial sum is an integer below 2**53, so the result is exact whatever the summation order -- the same
on every machine and thread count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

WEIGHT_BITS = 12
ACT_BITS = 12
ACT_LIMIT = float(1 << 26)
WEIGHT_LIMIT = float((1 << 15) - 1)
BIAS_LIMIT = float(1 << 40)
MAX_TERMS = 1 << 11  # inputs x kernel taps of one output: keeps every sum below 2**53
LEAKY_NUM, LEAKY_SHIFT = 655, 16  # LeakyReLU slope 0.01 as 655 / 2**16


@dataclass
class FixedConv:
    """A stride-1 convolution with integer weight (float64 holding integers) and optional integer bias."""

    weight: Tensor
    bias: Tensor | None
    padding: int

    @classmethod
    def from_float(cls, conv: torch.nn.Conv2d) -> FixedConv:
        if conv.stride != (1, 1) or conv.groups != 1 or conv.dilation != (1, 1):
            raise TypeError("only stride-1, ungrouped, undilated convolutions run in fixed point here")
        fan_in = conv.weight.shape[1] * conv.weight.shape[2] * conv.weight.shape[3]
        if fan_in > MAX_TERMS:
            raise ValueError(f"a convolution with {fan_in} terms per output could overflow exact float64 sums")
        weight = _to_int(conv.weight.detach(), WEIGHT_BITS, WEIGHT_LIMIT)
        bias = None if conv.bias is None else _to_int(conv.bias.detach(), WEIGHT_BITS + ACT_BITS, BIAS_LIMIT)
        return cls(weight, bias, int(conv.padding[0]))

    def to_state(self) -> dict:
        return {"weight": self.weight.to(torch.int16), "padding": self.padding,
                "bias": None if self.bias is None else self.bias.to(torch.int64)}

    @classmethod
    def from_state(cls, state: dict) -> FixedConv:
        weight, bias = state["weight"], state["bias"]
        if weight.dtype != torch.int16 or weight.dim() != 4 or (bias is not None and bias.dtype != torch.int64):
            raise ValueError("not a fixed-point convolution")
        if weight.shape[1] * weight.shape[2] * weight.shape[3] > MAX_TERMS:
            raise ValueError("a fixed-point convolution with too many terms per output")
        if bias is not None and (bias.shape != (weight.shape[0],) or bias.abs().max() > BIAS_LIMIT):
            raise ValueError("a fixed-point bias of the wrong shape or range")
        padding = int(state["padding"])
        if not 0 <= padding <= weight.shape[2] // 2:
            raise ValueError("a fixed-point convolution with a bad padding")
        return cls(weight.double(), None if bias is None else bias.double(), padding)


def _to_int(t: Tensor, bits: int, limit: float) -> Tensor:
    return torch.clamp(torch.round(t.double() * (1 << bits)), -limit, limit)


def layer(terms: list[tuple[FixedConv, Tensor]], activation: str = "none") -> Tensor:
    """Sum of convolutions of integer inputs (units of 2**-ACT_BITS) plus their biases, floored back to
    2**-ACT_BITS units, through `activation` ("none" or "leaky"), clamped. All of it exact: every intermediate is
    an integer below 2**53, and the scalings are by powers of two (655 * 2**-16 included)."""
    acc = None
    for conv, x in terms:
        out = F.conv2d(x, conv.weight, conv.bias, 1, conv.padding)
        acc = out if acc is None else acc.add_(out)
    x = acc.mul_(1.0 / (1 << WEIGHT_BITS)).floor_()
    if activation == "leaky":
        positive = x.clamp_min(0)
        x = x.clamp_max_(0).mul_(LEAKY_NUM / (1 << LEAKY_SHIFT)).floor_().add_(positive)
    return x.clamp_(-ACT_LIMIT, ACT_LIMIT)
