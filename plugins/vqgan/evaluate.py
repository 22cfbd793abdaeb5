"""Measurements the image bench does not make: bits per index of each prior, quality versus lost indices, and
JPEG / WebP / AVIF at their lowest settings (the bench's baseline ladders stop at quality 5).

`python -m rcodec.plugins.vqgan.evaluate DATASET [LIMIT]` prints one JSON object."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def evaluate(dataset: Path, limit: int = 24, fractions=(0.0, 0.1, 0.2, 0.3)) -> dict:
    from PIL import Image

    import rcodec
    from rcodec.bench.image import ms_ssim, psnr

    from .codec import _load
    from .export import LADDER

    files = sorted(p for p in dataset.iterdir() if p.suffix.lower() == ".png")[:limit]
    images = [np.asarray(Image.open(p).convert("RGB")) for p in files]
    prep = _load(None)
    f = prep.model.cfg.factor
    from .codec import _grid
    out: dict = {"images": len(images), "bits_per_index": {}, "lost": {}, "command": "python -m " + " ".join(
        ["rcodec.plugins.vqgan.evaluate"] + sys.argv[1:])}
    for k in LADDER:
        row = {}
        for prior in ("uniform", "categorical", "context"):
            bits = indices = 0
            for img in images:
                n = int(np.prod(_grid(img.shape[0], img.shape[1], f))) - 4
                empty = len(rcodec.encode(img[:1, :1], codec="vqgan", codebook=k, prior=prior))  # header + 4 indices
                data = rcodec.encode(img, codec="vqgan", codebook=k, prior=prior)
                bits += 8 * (len(data) - empty)
                indices += n
            row[prior] = round(bits / indices, 4)
        out["bits_per_index"][k] = row
    top = LADDER[-1]
    encoded = [rcodec.encode(img, codec="vqgan", codebook=top) for img in images]
    for fraction in fractions:
        row = {}
        for restorer in ("context", "neighbours"):
            ps, ms, times = [], [], []
            for img, data in zip(images, encoded):
                t0 = time.perf_counter()
                dec = rcodec.decode(data, lost_fraction=fraction, lost_seed=0, restorer=restorer)
                times.append(time.perf_counter() - t0)
                ps.append(psnr(img, dec))
                ms.append(ms_ssim(img, dec))
            row[restorer] = {"psnr": round(float(np.mean(ps)), 3), "ms_ssim": round(float(np.mean(ms)), 4),
                             "decode_s": round(float(np.mean(times)), 3)}
        out["lost"][fraction] = row
    out["lowest_baselines"] = lowest_baselines(images)
    return out


LOWEST = {"jpeg": ("JPEG", {"quality": 1}), "webp": ("WEBP", {"quality": 0, "method": 6}),
          "avif": ("AVIF", {"quality": 0, "speed": 6})}


def lowest_baselines(images: list[np.ndarray]) -> dict:
    """Mean bpp, PSNR and MS-SSIM of each Pillow format at its lowest quality setting."""
    import io

    from PIL import Image

    from rcodec.bench.image import ms_ssim, psnr

    out = {}
    for name, (fmt, kwargs) in LOWEST.items():
        bpp, ps, ms = [], [], []
        for img in images:
            buf = io.BytesIO()
            try:
                Image.fromarray(img).save(buf, format=fmt, **kwargs)
            except (KeyError, OSError, ValueError):  # a Pillow built without this format
                break
            dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
            bpp.append(8 * buf.tell() / (img.shape[0] * img.shape[1]))
            ps.append(psnr(img, dec))
            ms.append(ms_ssim(img, dec))
        if bpp:
            out[name] = {"settings": kwargs, "bpp": round(float(np.mean(bpp)), 4),
                         "psnr": round(float(np.mean(ps)), 3), "ms_ssim": round(float(np.mean(ms)), 4)}
    return out


if __name__ == "__main__":
    print(json.dumps(evaluate(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 24), indent=1))
