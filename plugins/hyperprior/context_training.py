"""Training of the hyperprior's context entropy model (`rcodec train hyperprior-context`).

The shipped transforms and hyperprior are frozen; only the context networks learn, and the loss is the rate of y in
bits per pixel (the distortion does not change). Frozen outputs are expensive on one CPU core and the context
networks are cheap, so a pool of crops is kept in memory as (y before rounding, fixed-point hyperprior output,
quality) and `refresh` entries are replaced by new crops each step. The hyperprior output is the exact fixed-point
one the decoder computes, so training sees the means and scales the codec will use.

Resumable: every `checkpoint_every` steps the context parameters, the optimiser state, the step and the RNG
states are written atomically to `checkpoint.pt`, and a line is appended to `history.jsonl` (context-model y bpp
and the plain hyperprior's y bpp on the same batches). The pool's tensors are not saved (tens of MB), but
each entry is made from a seed of its own, and the checkpoint keeps the pool's seeds, so a resumed run rebuilds the
same pool and continues exactly as if it had not stopped.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from rcodec.entropy.latent import ChannelContext, gaussian_bits
from rcodec.torch_runtime import tune_allocator

from . import fixed_point
from .fixed_point import ACT_BITS, Z_LIMIT
from .training import CropSampler, _atomic_save


@dataclass
class ContextTrainConfig:
    data: str
    out: str
    steps: int = 20_000
    batch: int = 8
    crop: int = 256
    lr: float = 1e-3
    lr_drop_at: int = 0  # from this step the learning rate is divided by 10 (0: never)
    order: str = "iscs"  # "iscs" (ISCS importance, most important first) or "natural"
    groups: tuple[int, ...] = (8, 8, 16, 32, 64)
    threads: int = 1
    seed: int = 0
    checkpoint_every: int = 200
    pool: int = 128  # crops held in memory
    refresh: int = 1  # pool entries replaced per step
    min_scale: float = 0.4


def shipped_model():
    """The shipped hyperprior (`PreparedModel`), verified."""
    import rcodec

    codec = rcodec.get_registry().codec("hyperprior")
    return codec.model(None)


def channel_order(model, kind: str) -> list[int]:
    """Coding order of the latent channels: ISCS score averaged over the qualities, highest first; or natural."""
    if kind == "natural":
        return list(range(model.y_gain.shape[1]))
    if kind != "iscs":
        raise ValueError(f"unknown channel order {kind!r} (iscs or natural)")
    from rcodec.plugins.iscs.analysis import channel_scores

    scores = np.mean([channel_scores(model, q) for q in range(model.qualities)], axis=0)
    return [int(c) for c in np.argsort(-scores, kind="stable")]


def build_context(cfg: ContextTrainConfig, model) -> ChannelContext:
    return ChannelContext(model.y_gain.shape[1], channel_order(model, cfg.order), cfg.groups)


@torch.no_grad()
def frozen_outputs(model, x: torch.Tensor, quality: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(y before rounding, hyperprior output in real units) of one (1, 3, H, W) crop, as the encoder computes them."""
    y = model.gain(model.g_a(x), quality)
    z = model.h_a(y) * model.z_gain[quality].view(1, -1, 1, 1)
    z_hat = torch.round(z).clamp(-Z_LIMIT, Z_LIMIT)
    # Straight to the fixed-point synthesis, without the codec's side thread: training keeps to its thread count.
    hyper = fixed_point.run_synthesis(model.hyper, z_hat.double(), model.z_inverse_gain_fixed[quality])
    hyper = hyper / (1 << ACT_BITS)
    return y[0].float(), hyper[0].float()


class LatentPool:
    """Frozen outputs of random crops, each at a random quality; `refresh` entries are replaced per step.

    Every entry is built from its own seed (crop and quality), so `seeds` rebuilds the same pool."""

    def __init__(self, model, sampler: CropSampler, size: int, rng: random.Random,
                 seeds: list[int] | None = None) -> None:
        self.model, self.sampler, self.rng = model, sampler, rng
        self.seeds = list(seeds) if seeds is not None else [rng.getrandbits(62) for _ in range(size)]
        self.entries = [self._make(seed) for seed in self.seeds]

    def _make(self, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        local = random.Random(seed)
        self.sampler.rng = local
        crop = self.sampler.sample().unsqueeze(0)
        return frozen_outputs(self.model, crop, local.randrange(self.model.qualities))

    def refresh(self, count: int) -> None:
        for _ in range(count):
            slot, seed = self.rng.randrange(len(self.entries)), self.rng.getrandbits(62)
            self.seeds[slot], self.entries[slot] = seed, self._make(seed)

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        picks = [self.entries[self.rng.randrange(len(self.entries))] for _ in range(n)]
        return torch.stack([p[0] for p in picks]), torch.stack([p[1] for p in picks])


def hyperprior_bits(y: torch.Tensor, hyper: torch.Tensor) -> torch.Tensor:
    """(B,) bits of round(y - mean) under the plain hyperprior's Gaussians: the baseline."""
    m = y.shape[1]
    return gaussian_bits(torch.round(y - hyper[:, m:]), hyper[:, :m]).flatten(1).sum(1)


def train_context(cfg: ContextTrainConfig, log=print) -> Path:
    """Run (or resume) training; returns the checkpoint path."""
    torch.set_num_threads(cfg.threads)
    tune_allocator()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    model = shipped_model()  # first: building it draws from torch's RNG the first time only
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    step = 0
    state = torch.load(ckpt_path, map_location="cpu", weights_only=False) if ckpt_path.exists() else None
    if state is not None:
        saved = state["config"]
        cfg.order, cfg.groups = saved["order"], tuple(saved["groups"])  # the network's shape is the run's
    context = build_context(cfg, model)
    optimizer = torch.optim.Adam(context.parameters(), lr=cfg.lr)
    if state is not None:
        if state.get("transforms_sha256") != model.sha256.hex():
            raise ValueError(f"{ckpt_path} was trained on other hyperprior weights")
        context.load_state_dict(state["context"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        rng.setstate(state["python_rng"])
        torch.set_rng_state(state["torch_rng"])
        log(f"resumed from {ckpt_path} at step {step}")
    for group in optimizer.param_groups:
        group["lr"] = cfg.lr / 10 if cfg.lr_drop_at and step >= cfg.lr_drop_at else cfg.lr
    record_cfg = {**asdict(cfg), "groups": list(cfg.groups)}
    (out / "config.json").write_text(json.dumps(record_cfg, indent=2))
    sampler = CropSampler(cfg.data, cfg.crop, cfg.min_scale, rng)
    started = time.perf_counter()
    pool = LatentPool(model, sampler, cfg.pool, rng, state["pool_seeds"] if state is not None else None)
    log(f"pool of {cfg.pool} crops ready in {time.perf_counter() - started:.1f} s")
    history = out / "history.jsonl"
    pixels = cfg.crop * cfg.crop
    context.train()
    started, window = time.perf_counter(), []
    while step < cfg.steps:
        if cfg.lr_drop_at and step == cfg.lr_drop_at:
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr / 10
        pool.refresh(cfg.refresh)
        y, hyper = pool.batch(cfg.batch)
        result = context(y, hyper)
        loss = result["bits"].mean() / pixels
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at step {step}; the last checkpoint is kept")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(context.parameters(), 1.0)
        optimizer.step()
        step += 1
        with torch.no_grad():
            window.append((result["bits_rounded"].mean().item() / pixels, loss.item(),
                           hyperprior_bits(y, hyper).mean().item() / pixels))
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            bpp, noisy, base = (sum(v) / len(v) for v in zip(*window))
            record = {"step": step, "y_bpp": bpp, "y_bpp_hyperprior": base, "y_bpp_noisy": noisy,
                      "steps_per_s": len(window) / (time.perf_counter() - started)}
            with history.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
            log(json.dumps(record))
            if not all(torch.isfinite(p).all() for p in context.parameters()):
                raise FloatingPointError(f"non-finite weights at step {step}; the last checkpoint is kept")
            # Adam's moments in full precision (a few MB): a resumed run then continues exactly as an unbroken one.
            _atomic_save({"context": context.state_dict(), "optimizer": optimizer.state_dict(),
                          "step": step, "python_rng": rng.getstate(), "torch_rng": torch.get_rng_state(),
                          "transforms_sha256": model.sha256.hex(), "pool_seeds": list(pool.seeds),
                          "config": record_cfg}, ckpt_path)
            started, window = time.perf_counter(), []
    return ckpt_path
