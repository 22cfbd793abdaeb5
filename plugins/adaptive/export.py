"""Export the shipped weights: fp16 model, the KARL head calibrated on true rollout curves, and the integer priors
(token symbols per position and dimension; tile lengths given the previous tile's) counted on training tiles."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from rcodec.torch_runtime import restores_threads
from rcodec.weights import sha256_file

from .codec import TARGETS, WEIGHTS_DIR, WEIGHTS_NAME

PRECISION = 16


def normalize_counts(counts: np.ndarray, precision: int = PRECISION) -> np.ndarray:
    """Integer counts (rows) -> integer frequencies, each >= 1, each row summing to 2**precision; integers only,
    so the tables never depend on float rounding."""
    counts = np.asarray(counts, dtype=np.int64)
    total = 1 << precision
    n = counts.shape[1]
    sums = np.maximum(counts.sum(axis=1, keepdims=True), 1)
    freqs = 1 + counts * (total - n) // sums
    rest = total - freqs.sum(axis=1)
    freqs[np.arange(len(freqs)), counts.argmax(axis=1)] += rest
    return freqs


def calibration_tiles(data: Path, crop: int = 256, seed: int = 0) -> np.ndarray:
    """One crop (raster order of 32x32 tiles kept) per training photo, (images, crop, crop, 3) uint8."""
    from rcodec.photos import load_photos

    rng = np.random.default_rng(seed)
    out = []
    for img in load_photos(data):
        c = min(crop, img.shape[0], img.shape[1]) // 32 * 32
        if c < crop:
            continue
        y, x = rng.integers(img.shape[0] - c + 1), rng.integers(img.shape[1] - c + 1)
        out.append(img[y:y + c, x:x + c])
    return np.stack(out)


def rollout_curves(model, tiles):
    """Codes, pooled features and the true PSNR of every ladder length for each tile."""
    import torch

    from .codec import _psnr

    codes, pooled, curves = [], [], []
    with torch.no_grad():
        for s in range(0, len(tiles), 256):
            x = tiles[s:s + 256]
            z, p = model.encode(x)
            q = model.fsq.dequantize(model.fsq.indices(z))
            curves.append(torch.stack([_psnr(model.decode(q, torch.full((len(x),), k)), x)
                                       for k in model.cfg.ladder], dim=1))
            codes.append(model.fsq.indices(z))
            pooled.append(p)
    return torch.cat(codes), torch.cat(pooled), torch.cat(curves)


def head_tiles(data: Path, per_image: int = 300, seed: int = 1) -> np.ndarray:
    """Tiles for fitting KARL's head: `per_image` tiles drawn from the 32x32 grid of every training photo,
    (N, 32, 32, 3) uint8. Many photos, few tiles each: the head sees more kinds of texture than one crop shows."""
    from rcodec.photos import load_photos

    rng = np.random.default_rng(seed)
    out = []
    for img in load_photos(data):
        gh, gw = img.shape[0] // 32, img.shape[1] // 32
        cells = rng.choice(gh * gw, min(per_image, gh * gw), replace=False)
        out.extend(img[r * 32:(r + 1) * 32, c * 32:(c + 1) * 32] for r, c in zip(cells // gw, cells % gw))
    return np.stack(out)


def fit_head(model, pooled, curves, steps: int = 3000, cap: float = 40.0,
             log: Callable[[str], None] = print) -> None:
    """Fit the KARL quality head to the measured rollout curves: inputs normalised over these tiles, curves capped
    at `cap` dB (above the highest target, where flat tiles saturate), mini-batches of 4,096, cosine-decayed Adam."""
    import torch
    import torch.nn.functional as F

    model.karl_mean.copy_(pooled.mean(0))
    model.karl_scale.copy_(pooled.std(0) + 1e-6)
    target = curves.clamp(max=cap)
    generator = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.karl.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for step in range(steps):
        batch = torch.randint(0, len(pooled), (4096,), generator=generator)
        loss = F.smooth_l1_loss(model.quality_curve(pooled[batch]), target[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        if (step + 1) % 500 == 0:
            log(json.dumps({"head_step": step + 1, "l1": round(loss.item(), 3)}))


def choices_for(curves, target: float):
    ok = curves >= target
    ok[:, -1] = True
    return ok.long().argmax(dim=1)


@restores_threads
def export(checkpoint: Path, data: Path, command: str, out_dir: Path = WEIGHTS_DIR,
           log: Callable[[str], None] = print, max_images: int = 0) -> dict:
    import torch

    from .model import AdaptiveConfig, AdaptiveTokenizer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = replace(AdaptiveConfig.from_dict(state["config"]), karl_stats=True)
    model = AdaptiveTokenizer(cfg)
    # calibrate with the fp16-rounded weights that ship; the head is fitted here from scratch
    model.load_weights({k: v.half().float() for k, v in state["model"].items()}, karl=False)
    model.eval()
    crops = calibration_tiles(data)
    if max_images:
        crops = crops[:max_images]
    per_image = (crops.shape[1] // cfg.tile) ** 2
    from .codec import _tiles

    tiles = torch.cat([_tiles(c, cfg.tile) for c in crops])
    codes, pooled, curves = rollout_curves(model, tiles)
    log(json.dumps({"calibration_tiles": len(tiles), "mean_psnr_per_length": [round(v, 2) for v in
                                                                             curves.mean(0).tolist()]}))
    sample = torch.from_numpy(head_tiles(data)).permute(0, 3, 1, 2).float() / 255.0
    _, head_pooled, head_curves = rollout_curves(model, sample)
    log(json.dumps({"head_tiles": len(sample)}))
    with torch.enable_grad():
        fit_head(model, head_pooled.detach(), head_curves.detach(), log=log)
    rungs = len(cfg.ladder)
    agree = {}
    count_counts = np.zeros((rungs + 1, rungs), np.int64)
    with torch.no_grad():
        pred = model.quality_curve(pooled)
    for t in TARGETS:
        alit = choices_for(curves, t).numpy()
        karl = choices_for(pred, t).numpy()
        agree[str(t)] = round(float(np.mean(np.abs(alit - karl) <= 1)), 3)
        for img in alit.reshape(-1, per_image):
            prev = rungs
            for v in img:
                count_counts[prev, v] += 1
                prev = v
    log(json.dumps({"karl_within_one_step_of_alit": agree}))
    c = len(cfg.levels)
    flat = codes.reshape(len(codes), cfg.max_tokens * c).numpy()
    token_counts = np.stack([np.bincount(flat[:, j], minlength=max(cfg.levels)) for j in range(flat.shape[1])])
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / WEIGHTS_NAME
    payload = {"config": cfg.to_dict(),
               # half precision keeps the file small; loading converts back to float32
               # (the small KARL head stays float32: its inputs are normalised with fitted scales)
               "state_dict": {k: v if k.startswith("karl") else v.half() for k, v in model.state_dict().items()},
               "token_freqs": torch.from_numpy(normalize_counts(token_counts)),
               "count_freqs": torch.from_numpy(normalize_counts(count_counts))}
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    entry = {"sha256": sha256_file(path), "bytes": path.stat().st_size, "steps": state["step"],
             "config": cfg.to_dict(), "calibration": {"tiles": len(tiles), "head_tiles": len(sample),
                                                      "karl_within_one_step": agree},
             "command": command}
    manifest_path = out_dir / "WEIGHTS.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[WEIGHTS_NAME] = entry
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return entry
