"""Compare training checkpoints on a folder of images without exporting them.

Each checkpoint's float model codes every image at every quality with real rounding (CompressAI's eval mode);
the rate is the model's own estimate (-log2 of the likelihoods), which the shipped codec matches to about a
percent, and PSNR is measured on the 8-bit output. Useful to decide which run to export; the bench
(`rcodec bench image`) remains the measurement of record.

`python -m rcodec.plugins.hyperprior.evaluate --dataset DIR CHECKPOINT [CHECKPOINT ...]` prints one JSON object:
per checkpoint the mean bpp and PSNR per quality, and the BD-rate of each checkpoint against the first.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from rcodec.bench.bdrate import bd_rate

from .model import ARCHITECTURES, LAMBDAS


def load_model(checkpoint: Path) -> torch.nn.Module:
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = state["config"]
    model = ARCHITECTURES[cfg["arch"]](cfg["n"], cfg["m"])
    model.load_state_dict(state["model"])
    return model.eval()


@torch.no_grad()
def rate_distortion(model: torch.nn.Module, images: list[np.ndarray]) -> list[dict]:
    """Mean estimated bpp and 8-bit RGB PSNR per quality over `images`."""
    rows = []
    for q in range(len(LAMBDAS)):
        bpps, psnrs = [], []
        quality = torch.tensor([q])
        for img in images:
            h, w = img.shape[:2]
            x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0
            pad_h, pad_w = (-h) % 64, (-w) % 64
            out = model(F.pad(x, (0, pad_w, 0, pad_h), mode="replicate"), quality)
            bits = sum(torch.log2(lk).sum().item() for lk in out["likelihoods"]) * -1.0
            x_hat = (out["x_hat"][..., :h, :w].clamp(0, 1) * 255).round()
            mse = (x_hat - x * 255).pow(2).mean().item()
            bpps.append(bits / (h * w))
            psnrs.append(10 * math.log10(255**2 / max(mse, 1e-10)))
        rows.append({"quality": q + 1, "bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs))})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=0, help="first N images only (0: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("checkpoints", type=Path, nargs="+")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = sorted(p for p in args.dataset.iterdir() if p.suffix.lower() == ".png")
    images = [np.array(Image.open(p).convert("RGB")) for p in paths[: args.limit or None]]
    result: dict = {"dataset": str(args.dataset), "images": len(images), "checkpoints": {}, "bd_rate_vs_first": {}}
    for checkpoint in args.checkpoints:
        state_step = torch.load(checkpoint, map_location="cpu", weights_only=False)["step"]
        rows = rate_distortion(load_model(checkpoint), images)
        result["checkpoints"][str(checkpoint)] = {"step": state_step, "points": rows}
    first = next(iter(result["checkpoints"].values()))["points"]
    for name, entry in result["checkpoints"].items():
        pts = entry["points"]
        result["bd_rate_vs_first"][name] = bd_rate([p["bpp"] for p in first], [p["psnr"] for p in first],
                                                   [p["bpp"] for p in pts], [p["psnr"] for p in pts])
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
