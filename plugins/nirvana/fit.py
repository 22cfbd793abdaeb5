"""Fitting one group's network: Adam on RGB MSE, then quantization-aware steps with a rate penalty on the change
from the previous group's network (what the bitstream codes)."""

from __future__ import annotations

import math

import numpy as np

QAT_FRACTION = 0.4  # the last 40% of the steps see the quantized weights (straight-through)


def init_params(shapes: list[tuple[int, ...]], seed: int) -> list[np.ndarray]:
    """He-style weights, zero biases, mid-grey output bias: a network that starts at a flat grey picture."""
    rng = np.random.default_rng(seed)
    params = []
    for i, shape in enumerate(shapes):
        if len(shape) == 2:
            params.append(rng.normal(0.0, math.sqrt(2.0 / shape[0]), shape))
        else:
            params.append(np.full(shape, 0.5) if i == len(shapes) - 1 else np.zeros(shape))
    return params


def widen(params: list[np.ndarray], width: int, seed: int) -> list[np.ndarray]:
    """The same function with more hidden units: new units get random inputs and zero outputs."""
    rng = np.random.default_rng(seed)
    out = []
    layers = len(params) // 2
    for i in range(layers):
        w, b = params[2 * i], params[2 * i + 1]
        fan_in = w.shape[0] if i == 0 else width
        fan_out = w.shape[1] if i == layers - 1 else width
        nw = np.zeros((fan_in, fan_out))
        nw[: w.shape[0], : w.shape[1]] = w
        if i < layers - 1:  # incoming weights of the new units; their outgoing weights stay zero
            new = (w.shape[0], fan_out - w.shape[1])
            nw[: w.shape[0], w.shape[1] :] = rng.normal(0.0, math.sqrt(2.0 / fan_in), new)
        nb = np.zeros(fan_out)
        nb[: b.shape[0]] = b
        out += [nw, nb]
    return out


def fit_group(forward, params: list[np.ndarray], target: np.ndarray, sample_weight: np.ndarray,
              output_weight: np.ndarray, steps: list[float], reference: list[np.ndarray], iterations: int, lr: float,
              lam: float, batch: int, seed: int) -> list[np.ndarray]:
    """Fit float32 `params` so forward(params, index) (the outputs of samples `index`) matches `target`, weighted
    per sample (0 for padding frames) and per output. Each step sees `batch` random samples (all when `batch` is at
    least the sample count). `steps` are
    the quantization steps; `reference` the previous group's dequantized parameters, whose change the rate penalty
    prices. Returns float64 parameters."""
    import torch

    ps = [torch.tensor(p, dtype=torch.float32, requires_grad=True) for p in params]
    refs = [torch.tensor(r, dtype=torch.float32) for r in reference]
    target_t = torch.from_numpy(target.astype(np.float32))
    weights = torch.from_numpy(np.outer(sample_weight, output_weight).astype(np.float32))
    samples = len(target)
    batch = min(batch, samples)
    scale = samples / batch / float(sample_weight.sum() or 1)  # the batch's loss as an estimate of the mean
    pixels = float(sample_weight.sum()) * (target.shape[1] * 2 // 3)
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(ps, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(iterations, 1), eta_min=lr * 0.05)
    qat_from = int(iterations * (1 - QAT_FRACTION))
    for it in range(iterations):
        if it >= qat_from:
            used = [p + (torch.round(p / s) * s - p).detach() for p, s in zip(ps, steps)]
        else:
            used = ps
        index = torch.randperm(samples, generator=generator)[:batch] if batch < samples else torch.arange(samples)
        loss = (((forward(used, index) - target_t[index]) ** 2) * weights[index]).sum() * scale
        if lam > 0:
            # ~bits of each parameter's change from the reference, per pixel: the coded cost the fit trades against
            rate = sum(torch.log2(1 + torch.abs(p - r) / s).sum() for p, r, s in zip(ps, refs, steps))
            loss = loss + lam * rate / pixels
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return [p.detach().double().numpy() for p in ps]
