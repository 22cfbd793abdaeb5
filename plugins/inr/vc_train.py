"""Meta-learning the shared base network of `inr-vc` (COIN++ / Meta-SGD): resumable, time-capped.

Each step takes random patches of the training photos, fits their latents from z = 0 with a few inner gradient steps
(per-dimension learned step sizes), and updates the shared weights, the latent map and the step sizes through those
inner steps (second order) so that a few steps suffice at encode time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rcodec.photos import load_photos
from rcodec.torch_runtime import restores_threads

from .vc_model import AUDIO_CONFIG, VcConfig, coords, init_params

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def sample_patches(images: list[np.ndarray], rng: np.random.Generator, batch: int, patch: int) -> np.ndarray:
    """(batch, patch * patch, 3) float32 in [0, 1]: random crops with random horizontal flips."""
    out = np.empty((batch, patch, patch, 3), np.uint8)
    for b in range(batch):
        img = images[rng.integers(len(images))]
        y, x = rng.integers(img.shape[0] - patch + 1), rng.integers(img.shape[1] - patch + 1)
        crop = img[y:y + patch, x:x + patch]
        out[b] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out.reshape(batch, patch * patch, 3).astype(np.float32) / 255.0


def load_clips(folder: str | Path) -> list[np.ndarray]:
    """Every channel of every WAV/FLAC/OGG file in `folder` (sorted by name) as a float32 array in [-1, 1]."""
    import soundfile

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no audio files in {folder}")
    clips = []
    for path in files:
        samples, _ = soundfile.read(str(path), dtype="float32", always_2d=True)
        clips.extend(np.ascontiguousarray(samples[:, c]) for c in range(samples.shape[1]))
    return clips


def sample_segments(clips: list[np.ndarray], rng: np.random.Generator, batch: int, segment: int) -> np.ndarray:
    """(batch, segment, 1) float32 network targets: random segments of random channels, with random polarity,
    normalised by their gains as the encoder normalises them (`vc_audio`). Near-silent segments (peak below
    2^-12) are drawn again: normalised, they are noise the network cannot learn from."""
    from .vc_audio import gain_exponents, normalise

    out = np.empty((batch, segment), np.float32)
    b = 0
    while b < batch:
        clip = clips[rng.integers(len(clips))]
        start = rng.integers(len(clip) - segment + 1)
        out[b] = clip[start:start + segment] * (1.0 if rng.random() < 0.5 else -1.0)
        b += int(np.abs(out[b]).max() >= 2.0**-12)
    return normalise(out, gain_exponents(out))


def load_training_data(data: str | Path, cfg: VcConfig) -> list[np.ndarray]:
    return load_clips(data) if cfg.dims == 1 else load_photos(data)


def sample_training(signals: list[np.ndarray], rng: np.random.Generator, batch: int, cfg: VcConfig) -> np.ndarray:
    """A batch of training patches (images) or segments (audio) for this configuration."""
    if cfg.dims == 1:
        return sample_segments(signals, rng, batch, cfg.patch)
    return sample_patches(signals, rng, batch, cfg.patch)


@restores_threads
def train(data: str, out: str, steps: int, batch: int = 16, lr: float = 5e-4, inner_steps: int = 3,
          inner_lr: float = 10.0, cfg: VcConfig | None = None, seed: int = 0, max_seconds: float = 0.0,
          log_every: int = 100,
          log: Callable[[str], None] = print, modality: str = "image") -> Path:
    """Train (or resume) into `out`/state.pt; returns its path. Stops at `steps` or after `max_seconds`.
    `modality` ("image" or "audio") picks the default configuration of a new run; a resumed run keeps its own."""
    import torch

    torch.set_num_threads(1)  # the recipe is sized for one core
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / "state.pt"
    cfg = cfg or (AUDIO_CONFIG if modality == "audio" else VcConfig())
    params = init_params(cfg, seed)
    log_lr = torch.full((cfg.latent,), math.log(inner_lr), requires_grad=True)
    step, curve, elapsed = 0, [], 0.0
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        cfg = VcConfig.from_dict(state["config"])
        params = {k: v.requires_grad_() for k, v in state["params"].items()}
        log_lr = state["log_lr"].requires_grad_()
        step, curve, elapsed, inner_steps = state["step"], state["curve"], state["seconds"], state["inner_steps"]
        log(f"resumed at step {step}")
    # The step sizes live on a log scale and must travel decades early on: their own, larger learning rate.
    opt = torch.optim.Adam([{"params": list(params.values()), "scale": 1.0}, {"params": [log_lr], "scale": 10.0}],
                           lr=lr)
    if ckpt.exists():
        opt.load_state_dict(state["opt"])
    signals = load_training_data(data, cfg)
    rng = np.random.default_rng(seed + step)
    points = torch.from_numpy(coords(cfg).astype(np.float32))
    from .vc_fit import inner_loop, patch_losses

    def save() -> None:
        payload = {"config": cfg.to_dict(), "params": {k: v.detach() for k, v in params.items()},
                   "log_lr": log_lr.detach(), "opt": opt.state_dict(), "step": step, "curve": curve,
                   "seconds": elapsed, "inner_steps": inner_steps}
        torch.save(payload, out_dir / "state.pt.tmp")
        (out_dir / "state.pt.tmp").replace(ckpt)

    start, last_save, window = time.monotonic(), time.monotonic(), []
    base = elapsed
    while step < steps:
        # Cosine decay over the planned steps: late steps polish, the first ones move fast.
        for g in opt.param_groups:
            g["lr"] = g["scale"] * lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1))))
        target = torch.from_numpy(sample_training(signals, rng, batch, cfg))
        z = inner_loop(cfg, params, points, target, log_lr.exp(), inner_steps, True)
        loss = patch_losses(cfg, params, z, points, target).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # A batch whose inner loop overshoots still teaches (smaller step sizes); only non-finite ones are skipped.
        norm = torch.nn.utils.clip_grad_norm_([*params.values(), log_lr], 1.0)
        if not torch.isfinite(norm):
            log(f"step {step}: skipped a non-finite gradient")
            step += 1
            continue
        opt.step()
        with torch.no_grad():  # a step size that grows without bound makes the inner loop diverge
            log_lr.clamp_(-8.0, math.log(inner_lr) + 1.0)
        step += 1
        window.append(float(loss.detach()))
        elapsed = base + time.monotonic() - start
        if step % log_every == 0 or step == steps:
            psnr = -10 * math.log10(max(float(np.mean(window)), 1e-10))
            curve.append([step, round(elapsed, 1), round(psnr, 3)])
            window = []
            log(f"step {step} {elapsed:.0f}s inner-fit PSNR {psnr:.2f} dB (mean since the last line)")
        if time.monotonic() - last_save > 120:
            save()
            last_save = time.monotonic()
        if max_seconds and time.monotonic() - start > max_seconds:
            log(f"time cap reached at step {step}")
            break
    save()
    return ckpt
