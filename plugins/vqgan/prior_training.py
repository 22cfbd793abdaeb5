"""`rcodec train vqgan-prior`: fit the masked context model of every ladder rung to index grids of training-photo
crops (the shipped VQGAN frozen) and add its fixed-point form to the shipped weights file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from rcodec.torch_runtime import restores_threads
from rcodec.weights import sha256_file

from .export import TILE, WEIGHTS_DIR, WEIGHTS_NAME


def training_grids(model, books: dict, data: Path, crops_per_image: int, crop: int, seed: int = 0) -> dict:
    """Index grids {K: (N, crop/16, crop/16) int64} of random crops (and their mirror images) of the photos."""
    import torch

    from rcodec.photos import load_photos

    from .model import encode_tiled

    rng = np.random.default_rng(seed)
    grids: dict[int, list] = {k: [] for k in books}
    with torch.no_grad():
        for img in load_photos(data):
            c = min(crop, img.shape[0], img.shape[1]) // 16 * 16
            for i in range(crops_per_image):
                y, x = rng.integers(img.shape[0] - c + 1), rng.integers(img.shape[1] - c + 1)
                patch = img[y:y + c, x:x + c]
                patch = patch[:, ::-1] if i % 2 else patch
                t = torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1)[None].float() / 255
                z = encode_tiled(model, t, TILE)
                if c != crop:  # a photo smaller than the crop: skip rather than mix grid sizes
                    continue
                for k, book in books.items():
                    grids[k].append(model.quantize.indices(z, book)[0].numpy())
    return {k: np.stack(v) for k, v in grids.items()}


@restores_threads
def train_priors(data: Path, steps: int, crops_per_image: int, crop: int, command: str, threads: int = 1,
                 log=print, weights_dir: Path = WEIGHTS_DIR) -> dict:
    import torch

    from .codec import _load
    from .context import IntegerContext, exp_table, train_context

    torch.set_num_threads(threads)
    _load.cache_clear()
    prep = _load(None)
    start = time.time()
    grids = training_grids(prep.model, prep.books, data, crops_per_image, crop)
    log(f"{len(next(iter(grids.values())))} index grids of {crop // 16}x{crop // 16} in {time.time() - start:.0f} s")
    path = weights_dir / WEIGHTS_NAME
    payload = torch.load(path, map_location="cpu", weights_only=True)
    lut = exp_table()
    payload["context"] = {}
    for k in sorted(grids):
        net = train_context(grids[k], k, steps, log=log)
        payload["context"][k] = IntegerContext.from_float(net, lut).to_state()
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    manifest_path = weights_dir / "WEIGHTS.json"
    manifest = json.loads(manifest_path.read_text())
    entry = manifest[WEIGHTS_NAME]
    entry.update({"sha256": sha256_file(path), "bytes": path.stat().st_size,
                  "context_prior": {"steps": steps, "grids": len(next(iter(grids.values()))), "crop": crop,
                                    "seconds": round(time.time() - start), "command": command}})
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    _load.cache_clear()
    return entry
