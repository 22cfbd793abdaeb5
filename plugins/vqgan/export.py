"""Export the shipped weights: the taming-layout model, the codebook ladder and the integer index priors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rcodec.torch_runtime import restores_threads
from rcodec.weights import sha256_file

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_NAME = "vqgan.pt"
LADDER = (8, 16, 64, 256, 1024)  # codebook sizes for quality 1..5; the top rung is the trained codebook
TILE = 8  # grid positions per coding tile side: the shipped model is trained on 128-pixel crops (f16)


def training_latents(model, data: Path, crops_per_image: int = 2, crop: int = 256, seed: int = 0):
    """Pre-quantization latents of random crops of the training photos, (M, D)."""
    import torch

    from rcodec.photos import load_photos

    from .model import encode_tiled

    rng = np.random.default_rng(seed)
    out = []
    with torch.no_grad():
        for img in load_photos(data):
            for _ in range(crops_per_image):
                c = min(crop, img.shape[0], img.shape[1])
                y, x = rng.integers(img.shape[0] - c + 1), rng.integers(img.shape[1] - c + 1)
                t = torch.from_numpy(np.array(img[y:y + c, x:x + c])).permute(2, 0, 1)[None].float() / 255
                z = encode_tiled(model, t, TILE)
                out.append(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]))
    return torch.cat(out)


def load_training_state(checkpoint: Path):
    """(float model in eval mode, the whole state dict) of a `rcodec train vqgan` state file."""
    import torch

    from .model import VqganConfig, VQModel

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = VQModel(VqganConfig.from_dict(state["config"]))
    model.load_state_dict(state["model"])
    return model.eval(), state


@restores_threads
def export(checkpoint: Path, data: Path, command: str, out_dir: Path = WEIGHTS_DIR) -> dict:
    import torch

    from .ladder import build_ladder

    torch.set_num_threads(1)
    model, state = load_training_state(checkpoint)
    cfg = model.cfg
    latents = training_latents(model, data)
    books, freqs = build_ladder(model.quantize.embedding.weight.detach(), latents)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / WEIGHTS_NAME
    payload = {"config": cfg.to_dict(),
               # half precision keeps the file small; loading converts back to float32
               "state_dict": {k: v.half() for k, v in model.state_dict().items()},
               "codebooks": {k: v.half() for k, v in books.items()},
               "freqs": {k: torch.from_numpy(f) for k, f in freqs.items()}}
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    entry = {"sha256": sha256_file(path), "bytes": path.stat().st_size, "steps": state["step"],
             "config": cfg.to_dict(), "ladder": sorted(books), "command": command}
    manifest_path = out_dir / "WEIGHTS.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[WEIGHTS_NAME] = entry
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return entry
