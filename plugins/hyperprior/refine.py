"""Encoder-side latent refinement: spend encode time, not decoder changes, on smaller files.

The analysis transform is an amortised guess of the best latents; optimising y and z for this one image against
the model's own rate-distortion loss closes part of that "amortisation gap" (Campos et al. 2019; Yang et al. 2020,
"Improving Inference for Neural Image Compression"). Rounding is relaxed by stochastic Gumbel annealing (SGA,
Yang et al.): each value is a soft random mix of its floor and ceiling whose temperature falls towards hard
rounding over the iterations. The decoder and the bitstream are untouched: the refined latents are coded
exactly as the analysis transform's would be.

The rate model follows the integer coding path with float arithmetic: the hyper synthesis runs with the same
fixed-point weights (as floats), y has a Gaussian density per element, z the entropy bottleneck's density.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from rcodec.torch_runtime import caller_threads

from .fixed_point import ACT_BITS, WEIGHT_BITS, Z_LIMIT, IntegerLayer

SCALE_BOUNDS = (0.11, 256.0)  # the coding tables' scale range (tables.py)


@dataclass
class RefineSettings:
    iterations: int
    lr: float = 0.03
    # z moves 10x slower than y: at the same step size it drifts to values whose real (hard-rounded) rate is far
    # above its relaxed estimate.
    z_lr: float = 0.003
    tau_start: float = 0.5  # SGA temperature at the first iteration
    tau_end: float = 0.02  # ... and at the last


def _float_hyper_synthesis(layers: list[IntegerLayer], z: Tensor, in_gain: Tensor) -> Tensor:
    """The fixed-point hyper synthesis in float arithmetic and real units (differentiable, not exact)."""
    x = z * (in_gain.float() / (1 << ACT_BITS)).view(1, -1, 1, 1)
    for layer in layers:
        weight = layer.weight.float() / (1 << WEIGHT_BITS)
        bias = layer.bias.float() / (1 << (WEIGHT_BITS + ACT_BITS))
        if layer.kind == "conv":
            x = F.conv2d(x, weight, bias, layer.stride, layer.padding)
        else:
            x = F.conv_transpose2d(x, weight, bias, layer.stride, layer.padding, layer.output_padding)
        if layer.activation == "relu":
            x = F.relu(x)
        elif layer.activation == "leaky":
            x = F.leaky_relu(x, 0.01)
    return x


def _sga_round(v: Tensor, tau: float, generator: torch.Generator) -> Tensor:
    """A relaxed rounding of v: floor(v) + a Gumbel-softmax sample of {0, 1}, favouring the nearer integer more
    sharply as tau falls; its gradient flows to v through the mixing weights."""
    lower = torch.floor(v).detach()
    frac = (v - lower).clamp(1e-5, 1 - 1e-5)
    logits = torch.stack([-torch.atanh(frac), -torch.atanh(1 - frac)], dim=-1) / tau
    uniform = torch.rand(logits.shape, generator=generator).clamp(1e-10, 1 - 1e-10)
    weights = torch.softmax((logits - torch.log(-torch.log(uniform))) / 0.5, dim=-1)
    return lower + weights[..., 1]


def _gaussian_bits(values: Tensor, scales: Tensor) -> Tensor:
    """-log2 P(integer bin of `values`) under a zero-mean Gaussian (values already centred on the mean)."""
    # P(|v| - 1/2 < X < |v| + 1/2) by symmetry, written with upper tails (erfc) for precision far from 0
    denominator = scales.clamp(*SCALE_BOUNDS) * math.sqrt(2)
    magnitude = values.abs()
    probability = 0.5 * (torch.erfc((magnitude - 0.5) / denominator) - torch.erfc((magnitude + 0.5) / denominator))
    return -torch.log2(probability.clamp_min(1e-9))


def refine_latents(model, net, x: Tensor, y: Tensor, z: Tensor, quality: int, lam: float,
                   settings: RefineSettings, seed: int = 0, context=None) -> tuple[Tensor, Tensor]:
    """Refined (y, z) for image x (padded, 1x3xHxW in [0, 1]) at `quality`; `net` is the float training network
    (for the z density), `model` the PreparedModel (transforms, gains, fixed-point hyper synthesis). `context`: a
    float `rcodec.entropy.latent.ChannelContext` that codes y (its rate and means replace the hyperprior's)."""
    generator = torch.Generator().manual_seed(seed)
    pixels = x.shape[2] * x.shape[3]
    y = y.detach().clone().requires_grad_(True)
    z = z.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([{"params": [y], "lr": settings.lr}, {"params": [z], "lr": settings.z_lr}])
    in_gain = model.z_inverse_gain_fixed[quality]
    n = max(settings.iterations - 1, 1)
    with torch.enable_grad(), caller_threads():  # encoder-only floats: any thread count will do
        for i in range(settings.iterations):
            tau = settings.tau_start * (settings.tau_end / settings.tau_start) ** (i / n)
            z_tilde = _sga_round(z.clamp(-Z_LIMIT, Z_LIMIT), tau, generator)
            scales, means = _float_hyper_synthesis(model.hyper, z_tilde, in_gain).chunk(2, 1)
            z_rows = z_tilde[0].reshape(z_tilde.shape[1], 1, -1)  # the bottleneck's (C, 1, N) layout
            bits_z = -torch.log2(net.entropy_bottleneck._likelihood(z_rows)[0].clamp_min(1e-9)).sum()
            if context is None:
                centred = _sga_round(y - means, tau, generator)
                bits_y = _gaussian_bits(centred, scales).sum()
                y_tilde = centred + means
            else:
                out = context(y, torch.cat([scales, means], 1), quantize=lambda v, t=tau: _sga_round(v, t, generator))
                bits_y, y_tilde = out["bits"].sum(), out["y_relaxed"]
            x_hat = model.g_s_coding(model.inverse_gain(y_tilde, quality))
            loss = lam * 255**2 * F.mse_loss(x_hat, x) + (bits_y + bits_z) / pixels
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return y.detach(), z.detach()
