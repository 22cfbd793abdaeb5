"""`rcodec bench pc`: pc-mnist on the MNIST test set against PNG and WebP lossless, and the scaling of the cached
conditionals against the naive scheme."""

from __future__ import annotations

import io
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .mnist import SHAPE, TEST_FILE, load_images

PIXELS = SHAPE[0] * SHAPE[1]


def _pillow_bytes(img: np.ndarray, fmt: str, **kwargs) -> int:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt, **kwargs)
    return len(buf.getvalue())


def theoretical_bits(images: np.ndarray) -> np.ndarray:
    """-log2 p(x) of each image (N, 28, 28) under the shipped circuit, from the torch circuit in float64."""
    import torch

    from rcodec.entropy.pc import HCLT

    from .weights import verified_path

    path, _ = verified_path()
    model = HCLT.from_export(torch.load(path, map_location="cpu", weights_only=True), torch.float64)
    out = []
    with torch.no_grad():
        for i in range(0, len(images), 500):
            x = torch.as_tensor(images[i : i + 500].reshape(-1, PIXELS).astype(np.int64))
            out.append(-model.log_likelihood(x).numpy() / math.log(2))
    return np.concatenate(out)


def _code(img: np.ndarray, coder: str) -> tuple[bytes, float, float]:
    """(file bytes, encode seconds, decode seconds); the decoded image must equal the input."""
    import rcodec

    t0 = time.perf_counter()
    data = rcodec.encode(img, codec="pc-mnist", coder=coder)
    t1 = time.perf_counter()
    back = rcodec.decode(data)
    t2 = time.perf_counter()
    if not np.array_equal(back, img):
        raise AssertionError("a pc-mnist file did not decode exactly")
    return data, t1 - t0, t2 - t1


def run(folder: Path, limit: int | None, log: Callable[[str], None], coder: str = "rans", batch: int = 1000,
        singles: int = 200) -> dict:
    """Batched: strips of `batch` digits, one file each (the headline figures). Single: one file per digit, for
    the first `singles` images. PNG and WebP lossless: one file per digit."""
    from rcodec.container import read

    images = load_images(folder / TEST_FILE, limit)
    n = len(images)
    dims = n * PIXELS
    stats = {"file": 0, "streams": 0, "encode_s": 0.0, "decode_s": 0.0}
    for start in range(0, n, batch):
        strip = images[start : start + batch].reshape(-1, images.shape[2])
        data, te, td = _code(strip, coder)
        stats["file"] += len(data)
        stats["streams"] += sum(len(s) for s in read(data).streams)
        stats["encode_s"] += te
        stats["decode_s"] += td
        done = min(start + batch, n)
        log(f"{done}/{n} in strips of {batch}: {8 * stats['streams'] / (done * PIXELS):.4f} bpd (streams), "
            f"{done / stats['encode_s']:.0f} img/s encode, {done / stats['decode_s']:.0f} img/s decode")
    single = {"file": 0, "streams": 0, "encode_s": 0.0, "decode_s": 0.0}
    count = min(singles, n)
    for img in images[:count]:
        data, te, td = _code(img, coder)
        single["file"] += len(data)
        single["streams"] += sum(len(s) for s in read(data).streams)
        single["encode_s"] += te
        single["decode_s"] += td
    png = sum(_pillow_bytes(img, "PNG", optimize=True) for img in images)
    webp = sum(_pillow_bytes(img, "WEBP", lossless=True, quality=100, method=6) for img in images)
    theory = theoretical_bits(images)
    return {
        "pc-mnist": {"bpd_streams": 8 * stats["streams"] / dims, "bpd_file": 8 * stats["file"] / dims,
                     "bpd_theoretical": float(theory.sum() / dims),
                     "encode_images_per_s": n / stats["encode_s"], "decode_images_per_s": n / stats["decode_s"],
                     "digits_per_file": batch},
        "pc-mnist-single-files": {"images": count, "bpd_streams": 8 * single["streams"] / (count * PIXELS),
                                  "bpd_file": 8 * single["file"] / (count * PIXELS),
                                  "bpd_theoretical": float(theory[:count].sum() / (count * PIXELS)),
                                  "encode_images_per_s": count / single["encode_s"],
                                  "decode_images_per_s": count / single["decode_s"]},
        "png": {"bpd": 8 * png / dims},
        "webp_lossless": {"bpd": 8 * webp / dims},
        "images": n,
        "coder": coder,
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
    }


def scaling(log: Callable[[str], None], hidden: int = 32, categories: int = 256, naive_steps: int = 48) -> dict:
    """Seconds for all D conditionals of one sample: cached scheme vs naive (a full pass per variable).

    Random recursive trees with random parameters. The naive scheme is timed on its first `naive_steps`
    variables and scaled to D (every step is one full pass, so the cost per step is flat); both agree there.
    """
    from rcodec.entropy.pc import random_tree
    from rcodec.entropy.pc.conditionals import CodingModel, conditionals, naive_conditionals

    rows = []
    for d in (196, 784, 3072):
        rng = np.random.default_rng(d)
        tree = random_tree(d, rng)
        model = CodingModel(tree.parent, rng.random(hidden), rng.random((d, hidden, hidden)) ** 4,
                            rng.random((d, categories, hidden)) ** 4)
        x = rng.integers(0, categories, d)
        t0 = time.perf_counter()
        fast = conditionals(model, x)
        t1 = time.perf_counter()
        steps = min(naive_steps, d)
        naive = naive_conditionals(model, x, steps)
        t2 = time.perf_counter()
        row = {"D": d, "tree_height": int(tree.depth().max()), "cached_s": t1 - t0,
               "naive_s_estimated": (t2 - t1) / steps * d, "naive_steps_timed": steps,
               "max_abs_difference": float(np.abs(fast[:steps] - naive).max())}
        row["speedup"] = row["naive_s_estimated"] / row["cached_s"]
        rows.append(row)
        log(f"D={d}: cached {row['cached_s']:.3f}s, naive ~{row['naive_s_estimated']:.1f}s ({row['speedup']:.0f}x)")
    return {"scaling": rows, "hidden": hidden, "categories": categories,
            "machine": {"platform": platform.platform(), "python": platform.python_version()}}
