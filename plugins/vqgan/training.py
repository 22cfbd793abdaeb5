"""Training of the small VQGAN, resumable.

Loss: MSE + 0.5 L1 + `ms_ssim_weight` (1 - MS-SSIM) on the reconstruction, plus the VQ codebook and commitment
terms (straight-through gradients); unused codewords are restarted on encoder outputs early in training.

The run folder keeps `state.pt` (model in float32, Adam moments in bfloat16: small enough to commit, so a later
run resumes where this one stopped) and `history.jsonl`, the learning curve on training crops.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from rcodec.photos import load_photos
from rcodec.torch_runtime import restores_threads

MS_SSIM_WINDOW = 7  # pytorch_msssim needs crops wider than (window - 1) * 16: 7 allows 97 px and up
RESTART_UNTIL = 4000  # dead-codeword restarts stop here: later ones would keep disturbing a trained decoder


def _batch(images: list[np.ndarray], rng: np.random.Generator, batch: int, crop: int) -> np.ndarray:
    out = np.empty((batch, crop, crop, 3), np.uint8)
    for b in range(batch):
        img = images[rng.integers(len(images))]
        y, x = rng.integers(img.shape[0] - crop + 1), rng.integers(img.shape[1] - crop + 1)
        patch = img[y:y + crop, x:x + crop]
        out[b] = patch[:, ::-1] if rng.integers(2) else patch  # horizontal flips double the photos
    return out


def _compact_optimizer_state(state: dict) -> dict:
    """Adam moments in bfloat16 (torch casts them back to the parameters' dtype when it loads them)."""
    import torch

    packed = {}
    for key, value in state["state"].items():
        packed[key] = {k: v.to(torch.bfloat16) if torch.is_tensor(v) and v.is_floating_point() and v.dim() else v
                       for k, v in value.items()}
    return {"state": packed, "param_groups": state["param_groups"]}


@restores_threads
def train(data: str, out: str, steps: int, batch: int = 8, crop: int = 64, lr: float = 1e-3, threads: int = 1,
          seed: int = 0, checkpoint_seconds: float = 120.0, log=print, device: str = "cpu",
          max_seconds: float = 0.0, ms_ssim_weight: float = 0.0, lr_drop_at: int = 0) -> Path:
    import torch
    import torch.nn.functional as F

    from .model import VqganConfig, VQModel

    if ms_ssim_weight and crop <= (MS_SSIM_WINDOW - 1) * 16:
        raise ValueError(f"the MS-SSIM term needs --crop above {(MS_SSIM_WINDOW - 1) * 16}")
    torch.set_num_threads(threads)
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
    history = out_dir / "history.jsonl"

    def save() -> None:
        tmp = ckpt.with_suffix(".tmp")
        weights = {k: v.cpu() for k, v in model.state_dict().items()}
        torch.save({"model": weights, "opt": _compact_optimizer_state(opt.state_dict()), "step": step,
                    "config": cfg.to_dict()}, tmp)
        tmp.replace(ckpt)

    from pytorch_msssim import ms_ssim

    window = {"rec": 0.0, "psnr": 0.0, "ms_ssim": 0.0, "n": 0}
    while step < steps:
        rate = lr * (0.1 if lr_drop_at and step >= lr_drop_at else 1.0)
        for group in opt.param_groups:
            group["lr"] = rate
        x = torch.from_numpy(_batch(images, rng, batch, crop)).permute(0, 3, 1, 2).float().to(device) / 255.0
        z = model.encode_latent(x)
        idx = model.quantize.indices(z.detach())
        zq = model.quantize.lookup(idx)
        codebook_loss = F.mse_loss(zq, z.detach()) + 0.25 * F.mse_loss(z, zq.detach())
        x_hat = model.decode_latent(z + (zq - z).detach())  # straight-through
        mse = F.mse_loss(x_hat, x)
        rec = mse + 0.5 * (x_hat - x).abs().mean()
        similarity = None
        if ms_ssim_weight:
            similarity = ms_ssim(x_hat.clamp(0, 1), x, data_range=1.0, win_size=MS_SSIM_WINDOW)
            rec = rec + ms_ssim_weight * (1 - similarity)
        loss = rec + codebook_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        usage += torch.bincount(idx.ravel(), minlength=cfg.n_embed).float()
        step += 1
        window["rec"] += rec.item()
        window["psnr"] += -10 * np.log10(max(mse.item(), 1e-10))
        window["ms_ssim"] += similarity.item() if similarity is not None else 0.0
        window["n"] += 1
        if step % 200 == 0:
            # restart unused codewords on current encoder outputs so the whole codebook stays in use
            dead = (usage == 0).nonzero().ravel() if step <= RESTART_UNTIL else usage[:0].long()
            if len(dead):
                flat = z.detach().permute(0, 2, 3, 1).reshape(-1, cfg.embed_dim)
                pick = torch.from_numpy(rng.integers(len(flat), size=len(dead))).to(device)
                noise = 1e-3 * torch.randn(len(dead), cfg.embed_dim, device=device)
                model.quantize.embedding.weight.data[dead] = flat[pick] + noise
            n = window["n"]
            row = {"step": step, "rec_loss": round(window["rec"] / n, 5), "psnr": round(window["psnr"] / n, 2),
                   "ms_ssim": round(window["ms_ssim"] / n, 4) if ms_ssim_weight else None,
                   "used": int((usage > 0).sum()), "restarted": len(dead), "lr": rate,
                   "steps_per_s": round(n / max(time.time() - window.get("t", start), 1e-9), 3)}
            window = {"rec": 0.0, "psnr": 0.0, "ms_ssim": 0.0, "n": 0, "t": time.time()}
            with history.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            log(json.dumps(row))
            usage.zero_()
        if time.time() - last > checkpoint_seconds:
            save()
            last = time.time()
        if max_seconds and time.time() - start > max_seconds:
            break
    save()
    return ckpt
