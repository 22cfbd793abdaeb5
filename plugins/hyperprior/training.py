"""Training loop for the variable-rate hyperprior networks: resumable, CPU-friendly, one run for all qualities.

Each step draws random crops of the training photos (random rescale, crop and flip), gives every crop its own
quality index, and minimises lambda_q * 255^2 * MSE + bpp. A checkpoint (model, optimiser, step, RNG state) is
written atomically every `--checkpoint-every` steps, and a run started with the same output folder resumes from it.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from rcodec.torch_runtime import tune_allocator

from .model import ARCHITECTURES, LAMBDAS, rate_distortion_loss


@dataclass
class TrainConfig:
    arch: str
    data: str
    out: str
    steps: int = 100_000
    batch: int = 8
    crop: int = 128
    lr: float = 1e-3
    lr_drop_at: int = 0  # step after which the learning rate is divided by 10 (0: never)
    n: int = 64
    m: int = 128
    threads: int = 2
    seed: int = 0
    checkpoint_every: int = 250
    min_scale: float = 0.4  # crops are taken from the photo rescaled by a factor in [min_scale, 1]
    init_from: str = ""  # a checkpoint whose matching weights start a new run (e.g. factorized from hyperprior)
    round_for_synthesis: bool = False  # synthesis trained on rounded latents (straight-through), rate on noise


class CropSampler:
    """Random rescaled, cropped and flipped patches of a folder of photos, held in memory as uint8."""

    def __init__(self, folder: str | Path, crop: int, min_scale: float, rng: random.Random) -> None:
        paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
        if not paths:
            raise FileNotFoundError(f"no training images in {folder}")
        self.images = [torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1) for p in paths]
        self.crop, self.min_scale, self.rng = crop, min_scale, rng

    def sample(self) -> torch.Tensor:
        img = self.images[self.rng.randrange(len(self.images))]
        _, h, w = img.shape
        scale = self.rng.uniform(self.min_scale, 1.0)
        size = min(int(math.ceil(self.crop / scale)), h, w)
        top, left = self.rng.randrange(h - size + 1), self.rng.randrange(w - size + 1)
        patch = img[:, top : top + size, left : left + size].float().unsqueeze(0) / 255.0
        if size != self.crop:
            patch = F.interpolate(patch, size=(self.crop, self.crop), mode="bilinear", antialias=True,
                                  align_corners=False).clamp_(0, 1)
        if self.rng.random() < 0.5:
            patch = patch.flip(3)
        return patch[0]

    def batch(self, n: int) -> torch.Tensor:
        return torch.stack([self.sample() for _ in range(n)])


def _compact_optimizer(state: dict) -> dict:
    """Adam's moment estimates in bfloat16: the resume checkpoint is committed, and this halves its size.
    (bfloat16, not float16: squared-gradient averages of 1e-10 and below would flush to zero in float16, and
    Adam then divides by zero.)"""
    out = {"param_groups": state["param_groups"], "state": {}}
    for key, value in state["state"].items():
        out["state"][key] = {k: v.bfloat16() if torch.is_tensor(v) and v.is_floating_point() and v.dim() > 0 else v
                             for k, v in value.items()}
    return out


def _expand_optimizer(state: dict) -> dict:
    for value in state["state"].values():
        for k, v in value.items():
            if torch.is_tensor(v) and v.dtype in (torch.float16, torch.bfloat16):
                value[k] = v.float()
    return state


def _atomic_save(obj: object, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(cfg: TrainConfig, log=print) -> Path:
    """Run (or resume) training; returns the checkpoint path."""
    torch.set_num_threads(cfg.threads)
    tune_allocator()  # large activations reuse heap memory instead of fresh pages
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    model = ARCHITECTURES[cfg.arch](cfg.n, cfg.m)
    main_params = [p for name, p in model.named_parameters() if not name.endswith("quantiles")]
    optimizer = torch.optim.Adam(main_params, lr=cfg.lr)
    step = 0
    if not ckpt_path.exists() and cfg.init_from:
        source = torch.load(cfg.init_from, map_location="cpu", weights_only=False)["model"]
        own = model.state_dict()
        shared = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape
                  and not k.startswith("entropy_bottleneck")}
        model.load_state_dict(shared, strict=False)
        log(f"initialised {len(shared)} tensors from {cfg.init_from}")
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(_expand_optimizer(state["optimizer"]))
        step = state["step"]
        rng.setstate(state["python_rng"])
        torch.set_rng_state(state["torch_rng"])
        log(f"resumed from {ckpt_path} at step {step}")
    for group in optimizer.param_groups:
        group["lr"] = cfg.lr / 10 if cfg.lr_drop_at and step >= cfg.lr_drop_at else cfg.lr
    sampler = CropSampler(cfg.data, cfg.crop, cfg.min_scale, rng)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    history = out / "history.jsonl"
    model.train()
    started, window = time.perf_counter(), []
    while step < cfg.steps:
        if cfg.lr_drop_at and step == cfg.lr_drop_at:
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr / 10
        x = sampler.batch(cfg.batch)
        quality = torch.tensor([rng.randrange(len(LAMBDAS)) for _ in range(cfg.batch)])
        out_ = model(x, quality, round_for_synthesis=cfg.round_for_synthesis)
        losses = rate_distortion_loss(out_, x, quality)
        optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(losses["loss"]):
            raise FloatingPointError(f"non-finite loss at step {step}; the last checkpoint is kept")
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(main_params, 1.0)
        optimizer.step()
        step += 1
        window.append((losses["loss"].item(), losses["bpp"].mean().item(),
                       (10 * torch.log10(1 / losses["mse"].clamp_min(1e-10))).mean().item()))
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            loss, bpp, psnr = (sum(v) / len(v) for v in zip(*window))
            rate = len(window) / (time.perf_counter() - started)
            record = {"step": step, "loss": loss, "bpp": bpp, "psnr": psnr, "steps_per_s": rate}
            with history.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
            log(json.dumps(record))
            if not all(torch.isfinite(p).all() for p in model.parameters()):
                raise FloatingPointError(f"non-finite weights at step {step}; the last checkpoint is kept")
            _atomic_save({"model": model.state_dict(), "optimizer": _compact_optimizer(optimizer.state_dict()),
                          "step": step,
                          "python_rng": rng.getstate(), "torch_rng": torch.get_rng_state(),
                          "config": asdict(cfg)}, ckpt_path)
            started, window = time.perf_counter(), []
    return ckpt_path
