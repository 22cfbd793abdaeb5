"""Exporting a trained `inr-vc` run: fp16 weights, the refinement learning rate and the prior tables, listed with
their sha256 in weights/WEIGHTS.json (`inr_vc.pt` for images, `inr_vc_audio.pt` for audio).

The prior and the refinement learning rate are fitted on latents of other random crops of the *training* data,
fitted exactly as the encoder fits them (with the fp16-rounded weights the decoder will use).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rcodec.torch_runtime import restores_threads

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_NAME = "inr_vc.pt"  # images
AUDIO_WEIGHTS_NAME = "inr_vc_audio.pt"
REFINE_STEPS = 40  # the encoder's default refinement (it stops earlier when out of time)
REFINE_LRS = (3e-3, 1e-2, 3e-2, 1e-1)


@restores_threads
def export(ckpt: Path, data: Path, command: str, log: Callable[[str], None] = print, patches: int = 512,
           seed: int = 12345, out_dir: Path = WEIGHTS_DIR) -> dict:
    """Write out_dir/inr_vc.pt (or inr_vc_audio.pt) and its entry in out_dir/WEIGHTS.json; returns the entry."""
    import torch

    from rcodec.weights import sha256_file

    from .vc_fit import fit_latents, patch_losses
    from .vc_model import VcConfig, coords
    from .vc_prior import fit_prior
    from .vc_train import load_training_data, sample_training

    torch.set_num_threads(1)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = VcConfig.from_dict(state["config"])
    half = {k: v.detach().half() for k, v in state["params"].items()}
    log_lr = state["log_lr"].detach().half()
    params = {k: v.float() for k, v in half.items()}
    lrs = log_lr.float().exp()
    points = torch.from_numpy(coords(cfg).astype(np.float32))
    signals = load_training_data(data, cfg)
    target = torch.from_numpy(sample_training(signals, np.random.default_rng(seed), patches, cfg))
    inner = int(state["inner_steps"])
    # The refinement learning rate: the best of a few on a quarter of the crops.
    probe = target[: patches // 4]
    scores = {}
    for lr in REFINE_LRS:
        z = fit_latents(cfg, params, points, probe, lrs, inner, REFINE_STEPS // 2, None, lr=lr)
        with torch.no_grad():
            scores[lr] = float(patch_losses(cfg, params, z, points, probe).mean())
        log(f"refine lr {lr:g}: PSNR {-10 * math.log10(scores[lr]):.2f} dB after {REFINE_STEPS // 2} steps")
    refine_lr = min(scores, key=scores.get)
    z = fit_latents(cfg, params, points, target, lrs, inner, REFINE_STEPS, None, lr=refine_lr)
    steps, freqs, scales = fit_prior(z.numpy())
    log(f"prior fitted on {patches} crops; Laplace scales {scales.min():.3g}..{scales.max():.3g}")
    payload = {
        "config": cfg.to_dict(), "params": half, "log_lr": log_lr, "inner_steps": inner,
        "refine_lr": refine_lr, "refine_steps": REFINE_STEPS,
        "grid": torch.from_numpy(steps), "freqs": torch.from_numpy(freqs),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    name = AUDIO_WEIGHTS_NAME if cfg.dims == 1 else WEIGHTS_NAME
    tmp = out_dir / (name + ".tmp")
    torch.save(payload, tmp)
    path = out_dir / name
    tmp.replace(path)
    entry = {
        "sha256": sha256_file(path), "bytes": path.stat().st_size, "steps": int(state["step"]),
        "train_seconds": round(float(state["seconds"]), 1), "config": cfg.to_dict(), "inner_steps": inner,
        "refine_lr": refine_lr, "command": command,
        "curve": {"columns": ["step", "seconds", "inner_fit_psnr_db"], "rows": state["curve"]},
    }
    manifest_path = out_dir / "WEIGHTS.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[name] = entry
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return {**entry, "file": f"weights/{name}"}
