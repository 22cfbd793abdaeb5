"""Training of the small VQGAN (reconstruction + codebook + commitment losses, dead-code restarts), resumable."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from rcodec.photos import load_photos
from rcodec.torch_runtime import tune_allocator


def _batch(images: list[np.ndarray], rng: np.random.Generator, batch: int, crop: int) -> np.ndarray:
    out = np.empty((batch, crop, crop, 3), np.uint8)
    for b in range(batch):
        img = images[rng.integers(len(images))]
        y, x = rng.integers(img.shape[0] - crop + 1), rng.integers(img.shape[1] - crop + 1)
        out[b] = img[y:y + crop, x:x + crop]
    return out


def train(data: str, out: str, steps: int, batch: int = 8, crop: int = 64, lr: float = 1e-3, threads: int = 1,
          seed: int = 0, checkpoint_seconds: float = 120.0, log=print, device: str = "cpu",
          max_seconds: float = 0.0) -> Path:
    import torch
    import torch.nn.functional as F

    from .model import VqganConfig, VQModel

    torch.set_num_threads(threads)

    tune_allocator()  # large activations reuse heap memory instead of fresh pages
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / "state.pt"
    torch.manual_seed(seed)
    cfg = VqganConfig()
    model = VQModel(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        log(f"resumed at step {step}")
    images = load_photos(data)
    rng = np.random.default_rng(seed + step)
    usage = torch.zeros(cfg.n_embed, device=device)
    last = start = time.time()

    def save() -> None:
        tmp = ckpt.with_suffix(".tmp")
        weights = {k: v.cpu() for k, v in model.state_dict().items()}
        torch.save({"model": weights, "opt": opt.state_dict(), "step": step, "config": cfg.to_dict()}, tmp)
        tmp.replace(ckpt)

    while step < steps:
        x = torch.from_numpy(_batch(images, rng, batch, crop)).permute(0, 3, 1, 2).float().to(device) / 255.0
        z = model.encode_latent(x)
        idx = model.quantize.indices(z.detach())
        zq = model.quantize.lookup(idx)
        codebook_loss = F.mse_loss(zq, z.detach()) + 0.25 * F.mse_loss(z, zq.detach())
        x_hat = model.decode_latent(z + (zq - z).detach())  # straight-through
        rec = F.mse_loss(x_hat, x) + 0.5 * (x_hat - x).abs().mean()
        loss = rec + codebook_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        usage += torch.bincount(idx.ravel(), minlength=cfg.n_embed).float()
        step += 1
        if step % 200 == 0:
            # restart unused codewords on current encoder outputs so the whole codebook stays in use (early only:
            # later restarts would keep disturbing a decoder that has learnt the codebook)
            dead = (usage == 0).nonzero().ravel() if step <= 2000 else usage[:0].long()
            if len(dead):
                flat = z.detach().permute(0, 2, 3, 1).reshape(-1, cfg.embed_dim)
                pick = torch.from_numpy(rng.integers(len(flat), size=len(dead))).to(device)
                noise = 1e-3 * torch.randn(len(dead), cfg.embed_dim, device=device)
                model.quantize.embedding.weight.data[dead] = flat[pick] + noise
            psnr = -10 * np.log10(F.mse_loss(x_hat.clamp(0, 1), x).item())
            log(json.dumps({"step": step, "loss": round(loss.item(), 5), "psnr": round(psnr, 2),
                            "used": int((usage > 0).sum()), "restarted": len(dead)}))
            usage.zero_()
        if time.time() - last > checkpoint_seconds:
            save()
            last = time.time()
        if max_seconds and time.time() - start > max_seconds:
            break
    save()
    return ckpt


if __name__ == "__main__":
    import sys

    train(sys.argv[1], sys.argv[2], int(sys.argv[3]))
