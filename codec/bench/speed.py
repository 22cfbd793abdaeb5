"""`rcodec bench speed`: encode and decode times of image codecs compared on the same files, interleaved.

A timing taken while other work shares the cores says little, and two codecs timed minutes apart see different
loads. Here every round times each codec once on each (image, quality) pair, one right after the other, and the
medians over all rounds are compared: a slow spell hits both codecs alike.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .image import codec_qualities


def run(codecs: list[str], dataset: Path, qualities: list[int] | None = None, limit: int | None = 5,
        rounds: int = 3, progress=None) -> dict[str, Any]:
    """Median encode and decode seconds per codec, per quality and overall, and each codec's decode time
    relative to the first codec's (`decode_ratio`: median over the pairs of decode time / first codec's)."""
    from PIL import Image

    import rcodec

    files = sorted(p for p in dataset.iterdir() if p.suffix.lower() in {".png", ".bmp", ".ppm", ".tif", ".tiff"})
    files = files[:limit] if limit else files
    if not files:
        raise FileNotFoundError(f"no images in {dataset}")
    images = [(p.name, np.asarray(Image.open(p).convert("RGB"))) for p in files]
    qualities = qualities or [q for q in codec_qualities(codecs[0]) if q is not None] or [None]
    pairs = [(name, q) for name, _ in images for q in qualities]
    files_of: dict[tuple[str, str, Any], bytes] = {}
    encode_s: dict[tuple[str, Any], list[float]] = {}
    total, done = (rounds + 1) * len(pairs), 0
    for name, image in images:
        for q in qualities:
            for codec in codecs:
                t0 = time.perf_counter()
                files_of[codec, name, q] = rcodec.encode(image, codec=codec, **({} if q is None else {"quality": q}))
                encode_s.setdefault((codec, q), []).append(time.perf_counter() - t0)
                rcodec.decode(files_of[codec, name, q])  # warm caches before any timed decode
            done += 1
            if progress:
                progress(done, total, f"encode {name} q={q}")
    decode_s: dict[tuple[str, str, Any], list[float]] = {}
    for _ in range(rounds):
        for name, q in pairs:
            for codec in codecs:
                t0 = time.perf_counter()
                rcodec.decode(files_of[codec, name, q])
                decode_s.setdefault((codec, name, q), []).append(time.perf_counter() - t0)
            done += 1
            if progress:
                progress(done, total, f"decode {name} q={q}")
    result: dict[str, Any] = {"codecs": {}}
    reference = codecs[0]
    for codec in codecs:
        per_quality = []
        for q in qualities:
            times = [t for name, _ in images for t in decode_s[codec, name, q]]
            per_quality.append({"quality": q, "decode_s": float(np.median(times)),
                                "encode_s": float(np.median(encode_s[codec, q]))})
        all_times = [t for (c, _, _), ts in decode_s.items() if c == codec for t in ts]
        ratios = [t / r for name, q in pairs
                  for t, r in zip(decode_s[codec, name, q], decode_s[reference, name, q])]
        result["codecs"][codec] = {"decode_s": float(np.median(all_times)), "decode_ratio": float(np.median(ratios)),
                                   "qualities": per_quality}
    result.update({"reference": reference, "dataset": str(dataset), "images": len(images), "rounds": rounds,
                   "command": "rcodec " + " ".join(sys.argv[1:]),
                   "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                               "python": platform.python_version()}})
    return result
