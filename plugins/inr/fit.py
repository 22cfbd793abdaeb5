"""Fitting a batch of SIRENs to a signal (COIN-style), with a progress bar showing the PSNR and a time budget."""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from .siren import Architecture, forward, init_weights


def psnr(mse: float, peak: float = 1.0) -> float:
    return 10 * math.log10(peak * peak / max(mse, 1e-20))


def fit(arch: Architecture, coords: np.ndarray, target: np.ndarray, steps: int, time_budget: float | None,
        batch: int, lr: float, seed: int, peak: float, label: str) -> list[np.ndarray]:
    """coords (networks, n, in), target (networks, n, out) in float; returns the fitted float64 parameters.

    Each step uses `batch` random points per network (all points when there are fewer): full-resolution steps on a
    photo cost ~1 s on one core; random subsets converge about as well per step at a fraction of the cost.
    """
    import torch
    from tqdm import tqdm

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    params = init_weights(arch, seed)
    coords_t = torch.from_numpy(coords.astype(np.float32))
    target_t = torch.from_numpy(target.astype(np.float32))
    n = coords_t.shape[1]
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1), eta_min=lr * 0.05)
    start = time.monotonic()
    best, best_loss = [p.detach().clone() for p in params], math.inf
    with tqdm(total=steps, desc=label, unit="step", file=sys.stderr, disable=None, leave=False) as bar:
        for step in range(steps):
            if batch < n:
                idx = torch.randint(0, n, (batch,), generator=gen)
                x, y = coords_t[:, idx], target_t[:, idx]
            else:
                x, y = coords_t, target_t
            loss = torch.mean((forward(arch, params, x) - y) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            value = float(loss.detach())
            if value < best_loss:
                best_loss, best = value, [p.detach().clone() for p in params]
            if step % 10 == 0:
                bar.set_postfix_str(f"PSNR {psnr(value, peak):.2f} dB")
            bar.update(1)
            if time_budget is not None and time.monotonic() - start > time_budget:
                break
    return [p.double().numpy() for p in best]
