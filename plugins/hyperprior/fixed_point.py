"""Exact fixed-point hyper synthesis: the path from decoded z to the table index of every y symbol.

CompressAI picks a y symbol's CDF table by comparing float scales, so a decoder whose float arithmetic differs by
one ulp (another CPU, another thread count, another library build) can pick another table and decode garbage.
Here the hyper synthesis runs on integers: z is an integer, weights and biases are stored as integers (2**-12
units), every layer's output is floored back to 2**-12 units, and activations are clamped. The convolutions run
in float64 on integer-valued tensors: every product and partial sum is an integer below 2**53, so each addition
is exact and the result is the same whatever the summation order — on every machine and thread count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

WEIGHT_BITS = 12  # weights and biases in units of 2**-12
ACT_BITS = 12  # activations, scales and means in units of 2**-12
ACT_LIMIT = float(1 << 26)  # |activation| <= 2**14 in real units; keeps every sum below 2**53
WEIGHT_LIMIT = (1 << 15) - 1  # |weight| < 8
Z_LIMIT = 1 << 10
LEAKY_NUM, LEAKY_SHIFT = 655, 16  # LeakyReLU slope 0.01 as 655 / 2**16


@dataclass
class IntegerLayer:
    kind: str  # "conv" or "deconv"
    weight: Tensor  # float64 holding integers
    bias: Tensor  # float64 holding integers, in units of 2**-(ACT_BITS + WEIGHT_BITS)
    stride: int
    padding: int
    output_padding: int
    activation: str  # "relu", "leaky" or "none"


def _to_int(t: Tensor, bits: int, limit: float) -> Tensor:
    return torch.clamp(torch.round(t.double() * (1 << bits)), -limit, limit)


def quantise_synthesis(modules: torch.nn.Sequential) -> list[IntegerLayer]:
    """Integer layers from a float Sequential of Conv2d / ConvTranspose2d and ReLU / LeakyReLU."""
    layers: list[IntegerLayer] = []
    for module in modules:
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            deconv = isinstance(module, torch.nn.ConvTranspose2d)
            layers.append(IntegerLayer(
                "deconv" if deconv else "conv",
                _to_int(module.weight.detach(), WEIGHT_BITS, WEIGHT_LIMIT),
                _to_int(module.bias.detach(), WEIGHT_BITS + ACT_BITS, float(1 << 40)),
                module.stride[0], module.padding[0], module.output_padding[0] if deconv else 0, "none"))
        elif isinstance(module, torch.nn.ReLU):
            layers[-1].activation = "relu"
        elif isinstance(module, torch.nn.LeakyReLU):
            layers[-1].activation = "leaky"
        else:
            raise TypeError(f"cannot run {type(module).__name__} in fixed point")
    return layers


def layers_to_state(layers: list[IntegerLayer]) -> list[dict]:
    return [{"kind": la.kind, "weight": la.weight.to(torch.int32), "bias": la.bias.to(torch.int64),
             "stride": la.stride, "padding": la.padding, "output_padding": la.output_padding,
             "activation": la.activation} for la in layers]


def layers_from_state(state: list[dict]) -> list[IntegerLayer]:
    return [IntegerLayer(s["kind"], s["weight"].double(), s["bias"].double(), int(s["stride"]), int(s["padding"]),
                         int(s["output_padding"]), s["activation"]) for s in state]


def run_synthesis(layers: list[IntegerLayer], z: Tensor, in_gain: Tensor | None, side=None) -> Tensor:
    """Integer-valued float64 output (units of 2**-ACT_BITS) for integer z of shape (1, C, h, w).

    `in_gain`: integer per-channel gain (units of 2**-ACT_BITS) applied to z first, or None for a gain of one.
    `side`: an executor; the second half of the last layer's output channels is then computed on it while this
    thread computes the first. Every output channel is its own exact sum, so the result is the same.
    """
    x = torch.clamp(z.double(), -Z_LIMIT, Z_LIMIT)
    x = x * in_gain.double().view(1, -1, 1, 1) if in_gain is not None else x * (1 << ACT_BITS)
    with torch.no_grad():
        for layer in layers[:-1]:
            x = _run_layer(layer, x, layer.weight, layer.bias)
        last = layers[-1]
        if side is None:
            return _run_layer(last, x, last.weight, last.bias)
        out_dim = 0 if last.kind == "conv" else 1
        half = last.weight.shape[out_dim] // 2
        weights = last.weight.split([half, last.weight.shape[out_dim] - half], dim=out_dim)
        biases = last.bias.split([half, last.bias.shape[0] - half])
        pending = side.submit(_run_layer_no_grad, last, x, weights[1], biases[1])
        try:
            first = _run_layer(last, x, weights[0], biases[0])
        finally:
            second = pending.result()
        return torch.cat([first, second], dim=1)


def _run_layer_no_grad(layer: IntegerLayer, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    with torch.no_grad():  # grad mode is per thread
        return _run_layer(layer, x, weight, bias)


def _run_layer(layer: IntegerLayer, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    if layer.kind == "conv":
        acc = F.conv2d(x, weight, None, layer.stride, layer.padding)
    else:
        acc = F.conv_transpose2d(x, weight, None, layer.stride, layer.padding, layer.output_padding)
    acc = acc + bias.view(1, -1, 1, 1)
    x = torch.floor(acc / (1 << WEIGHT_BITS))  # division by a power of two: exact
    if layer.activation == "relu":
        x = torch.clamp_min(x, 0)
    elif layer.activation == "leaky":
        x = torch.where(x < 0, torch.floor(x * LEAKY_NUM / (1 << LEAKY_SHIFT)), x)
    return torch.clamp(x, -ACT_LIMIT, ACT_LIMIT)
