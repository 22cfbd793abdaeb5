"""Fitting per-patch latents with the shared weights frozen: the meta-learned inner loop, then optional Adam steps.

The inner loop is the one training optimises through (Meta-SGD: a learned step size per latent dimension), so a
few steps from z = 0 already give a good fit; further Adam steps on z refine it within a time budget.
"""

from __future__ import annotations

import math
import time

MAX_STEP = 2.0  # longest inner step in latent space (fitted latents have norms around 1..3)


def patch_losses(cfg, params: dict, z, coords, target):
    """Mean squared error of each patch: (B,)."""
    from .vc_model import forward

    return ((forward(cfg, params, z, coords) - target) ** 2).mean(dim=(1, 2))


def inner_loop(cfg, params: dict, coords, target, lrs, steps: int, create_graph: bool):
    """`steps` gradient steps on z from 0 with per-dimension step sizes `lrs`. The loss is the sum over patches of
    each patch's MSE, so a patch's update does not depend on how many patches share the batch."""
    import torch

    z = torch.zeros(target.shape[0], cfg.latent, dtype=target.dtype, requires_grad=True)
    for _ in range(steps):
        loss = patch_losses(cfg, params, z, coords, target).sum()
        (grad,) = torch.autograd.grad(loss, z, create_graph=create_graph)
        step = lrs * grad
        # A patch whose step would be far larger than any latent is diverging: cap its length (differentiably).
        norm = step.norm(dim=1, keepdim=True).clamp(min=MAX_STEP)
        z = z - step * (MAX_STEP / norm)
        if not create_graph:
            z = z.detach().requires_grad_()
    return z


def fit_latents(cfg, params: dict, coords, target, lrs, inner_steps: int, refine_steps: int,
                time_budget: float | None, lr: float = 1e-2, chunk: int = 128, progress=None):
    """Latents (N, latent) for N patches: the inner loop, then Adam on z over all patches (best loss kept)."""
    import torch

    start = time.monotonic()
    params = {k: v.detach() for k, v in params.items()}
    zs = [inner_loop(cfg, params, coords, target[i:i + chunk], lrs, inner_steps, False).detach()
          for i in range(0, target.shape[0], chunk)]
    z = torch.cat(zs).requires_grad_()
    opt = torch.optim.Adam([z], lr=lr)
    best, best_loss = z.detach().clone(), math.inf
    for step in range(refine_steps + 1):
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for i in range(0, target.shape[0], chunk):
            loss = patch_losses(cfg, params, z[i:i + chunk], coords, target[i:i + chunk]).sum()
            loss.backward()
            total += float(loss.detach())
        if total < best_loss:
            best_loss, best = total, z.detach().clone()
        if progress is not None:
            progress(step, total / target.shape[0])
        if step == refine_steps or (time_budget is not None and time.monotonic() - start > time_budget):
            break
        opt.step()
    return best
