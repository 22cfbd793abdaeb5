"""Training of the adaptive tokenizer (resumable): every tile is rebuilt from a random prefix length of the ladder
(nested dropout), so any prefix is a valid reconstruction; the KARL quality head learns online, on detached
features, the PSNR the sampled length reached."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rcodec.photos import load_photos
from rcodec.torch_runtime import restores_threads


def sample_tiles(images: list[np.ndarray], rng: np.random.Generator, batch: int, tile: int,
                 flat_fraction: float = 0.12) -> np.ndarray:
    """Random crops with random flips; a few flat colour tiles so flat content is learnt to need one token."""
    out = np.empty((batch, tile, tile, 3), np.uint8)
    for b in range(batch):
        if rng.random() < flat_fraction:
            out[b] = rng.integers(0, 256, 3, dtype=np.uint8)
            continue
        img = images[rng.integers(len(images))]
        y, x = rng.integers(img.shape[0] - tile + 1), rng.integers(img.shape[1] - tile + 1)
        crop = img[y:y + tile, x:x + tile]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[b] = crop
    return out


def psnr_per_tile(x_hat, x):
    """PSNR (dB) of each tile of 8-bit-rounded reconstructions, as the decoder will produce them."""
    import torch

    rounded = torch.round(x_hat.clamp(0, 1) * 255) / 255
    mse = ((rounded - x) ** 2).flatten(1).mean(1).clamp(min=1e-10)
    return -10 * torch.log10(mse)


@restores_threads
def train(data: str, out: str, steps: int, batch: int = 32, lr: float = 1e-3, threads: int = 1, seed: int = 0,
          checkpoint_seconds: float = 120.0, log: Callable[[str], None] = print, max_seconds: float = 0.0) -> Path:
    import torch
    import torch.nn.functional as F

    from .model import AdaptiveConfig, AdaptiveTokenizer

    torch.set_num_threads(threads)

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / "state.pt"
    torch.manual_seed(seed)
    cfg = AdaptiveConfig()
    model = AdaptiveTokenizer(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        cfg = AdaptiveConfig.from_dict(state["config"])
        model = AdaptiveTokenizer(cfg)
        model.load_weights(state["model"])
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        opt.load_state_dict(state["opt"])
        step = state["step"]
        log(f"resumed at step {step}")
    images = load_photos(data)
    rng = np.random.default_rng(seed + step)
    ladder = torch.tensor(cfg.ladder)
    last = start = t0 = time.time()
    stats: list[tuple[float, float]] = []

    def save() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "config": cfg.to_dict()},
                   tmp)
        tmp.replace(ckpt)

    while step < steps:
        warm = min(1.0, (step + 1) / 500)
        for group in opt.param_groups:
            group["lr"] = lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / steps))))
        x = torch.from_numpy(sample_tiles(images, rng, batch, cfg.tile)).permute(0, 3, 1, 2).float() / 255.0
        z, pooled = model.encode(x)
        k_idx = torch.from_numpy(rng.integers(len(cfg.ladder), size=batch))
        x_hat = model.decode(model.fsq(z), ladder[k_idx])
        rec = F.mse_loss(x_hat, x)
        with torch.no_grad():
            actual = psnr_per_tile(x_hat, x).clamp(max=50.0)
        pred = model.quality_curve(pooled.detach()).gather(1, k_idx[:, None])[:, 0]
        head = F.smooth_l1_loss(pred, actual)
        loss = rec + 1e-3 * head
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        stats.append((rec.item(), head.item()))
        if step % 200 == 0:
            r, h = np.mean(stats, axis=0)
            log(json.dumps({"step": step, "psnr": round(float(-10 * np.log10(r)), 2), "head_l1": round(float(h), 3),
                            "s_per_step": round((time.time() - start) / max(1, len(stats)), 3)}))
            stats.clear()
            start = time.time()
        if time.time() - last > checkpoint_seconds:
            save()
            last = time.time()
        if max_seconds and time.time() - t0 > max_seconds:
            break
    save()
    return ckpt
