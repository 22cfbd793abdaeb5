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


def run(folder: Path, limit: int | None, log: Callable[[str], None], coder: str = "range") -> dict:
    import rcodec
    from rcodec.container import read

    images = load_images(folder / TEST_FILE, limit)
    n = len(images)
    file_bytes = stream_bytes = png = webp = 0
    t_enc = t_dec = 0.0
    for i, img in enumerate(images):
        t0 = time.perf_counter()
        data = rcodec.encode(img, codec="pc-mnist", coder=coder)
        t1 = time.perf_counter()
        back = rcodec.decode(data)
        t2 = time.perf_counter()
        if not np.array_equal(back, img):
            raise AssertionError(f"test image {i} did not decode exactly")
        t_enc, t_dec = t_enc + t1 - t0, t_dec + t2 - t1
        file_bytes += len(data)
        stream_bytes += sum(len(s) for s in read(data).streams)
        png += _pillow_bytes(img, "PNG", optimize=True)
        webp += _pillow_bytes(img, "WEBP", lossless=True, quality=100, method=6)
        if (i + 1) % 100 == 0:
            log(f"{i + 1}/{n}: {8 * stream_bytes / ((i + 1) * PIXELS):.4f} bpd (streams)")
    theory = theoretical_bits(images)
    all_theory = theoretical_bits(load_images(folder / TEST_FILE)) if limit is not None else theory
    dims = n * PIXELS
    return {
        "pc-mnist": {"bpd_file": 8 * file_bytes / dims, "bpd_streams": 8 * stream_bytes / dims,
                     "bpd_theoretical": float(theory.sum() / dims),
                     "bpd_theoretical_all_test_images": float(all_theory.sum() / (len(all_theory) * PIXELS)),
                     "encode_images_per_s": n / t_enc, "decode_images_per_s": n / t_dec},
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
