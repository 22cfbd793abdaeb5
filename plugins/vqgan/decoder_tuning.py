"""`rcodec train vqgan-decoder`: fine-tune the shipped decoder for MS-SSIM, encoder and codebooks frozen.

The indices of an image depend only on the encoder and the codebooks, so the ladder, the index priors and every
bitstream stay as they are; only the pixels a grid decodes to change. Besides the decoder, each rung gets its own
decoding codebook (the codewords the decoder is given for the indices), started from the rung's codebook and tuned
for the pixels: the ladder's smaller codebooks come from K-means in latent space, which the decoder never saw. Each
step takes random crops of the training
photos, picks a ladder rung at random, and decodes the crops' index grids tile by tile exactly as the codec does
(so the decoder also learns to hide the tile seams). Loss: `ms_ssim_weight` (1 - MS-SSIM) + (1 - ms_ssim_weight) L1,
the mix of Zhao et al. ("Loss Functions for Image Restoration with Neural Networks"); MS-SSIM with the standard
11-pixel window, the one the image bench reports.

Resumable: the run folder keeps `state.pt` (the tuned decoder and its Adam moments) and `history.jsonl`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from rcodec.photos import load_photos
from rcodec.torch_runtime import restores_threads

from .export import TILE, WEIGHTS_DIR, WEIGHTS_NAME
from .training import _batch, _compact_optimizer_state

TUNED_PREFIXES = ("decoder.", "post_quant_conv.")  # what a step updates; everything before the indices is frozen
BOOK_LR_SCALE = 10.0  # decoding codewords (std ~0.5) move too slowly at the decoder's learning rate


@restores_threads
def tune_decoder(data: str, out: str, steps: int, batch: int = 2, crop: int = 256, lr: float = 1e-4,
                 ms_ssim_weight: float = 0.84, threads: int = 1, seed: int = 0, max_seconds: float = 0.0,
                 checkpoint_seconds: float = 120.0, weights_dir: Path = WEIGHTS_DIR, log=print) -> Path:
    """Fine-tune the decoder of `weights_dir/vqgan.pt` to `steps` total steps (resuming from `out`)."""
    import torch
    import torch.nn.functional as F
    from pytorch_msssim import ms_ssim

    from rcodec.weights import shipped_weights

    from .codec import load_prepared
    from .model import decode_tiled, encode_tiled

    if crop % 16 or crop <= 160:
        raise ValueError("--crop must be a multiple of 16 above 160 (the 11-pixel MS-SSIM window at 5 scales)")
    torch.set_num_threads(threads)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt, history = out_dir / "state.pt", out_dir / "history.jsonl"
    prep = load_prepared(*shipped_weights(weights_dir, WEIGHTS_NAME, "export the VQGAN first (rcodec train vqgan)"))
    model = prep.model
    tuned = [p for name, p in model.named_parameters() if name.startswith(TUNED_PREFIXES)]
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(TUNED_PREFIXES))
    rungs = sorted(prep.books)
    decode_books = {k: torch.nn.Parameter(prep.decode_book(k).clone()) for k in rungs}
    opt = torch.optim.Adam([{"params": tuned, "lr": lr},
                            {"params": [decode_books[k] for k in rungs], "lr": lr * BOOK_LR_SCALE}])
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        if state["base_sha256"] != prep.sha256.hex():
            raise ValueError(f"{ckpt} tunes other weights than the shipped {WEIGHTS_NAME}; start a new --out")
        model.load_state_dict(state["tuned"], strict=False)
        with torch.no_grad():
            for k in rungs:
                decode_books[k].copy_(state["decode_books"][k])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        log(f"resumed at step {step}")
    model.train()
    torch.manual_seed(seed + step)
    rng = np.random.default_rng(seed + step)
    images = load_photos(data)

    def save() -> None:
        tuned_state = {k: v for k, v in model.state_dict().items() if k.startswith(TUNED_PREFIXES)}
        tmp = ckpt.with_suffix(".tmp")
        books = {k: v.detach().clone() for k, v in decode_books.items()}
        torch.save({"tuned": tuned_state, "decode_books": books, "opt": _compact_optimizer_state(opt.state_dict()),
                    "step": step, "base_sha256": prep.sha256.hex()}, tmp)
        tmp.replace(ckpt)

    start = last = time.time()
    window = {"loss": 0.0, "psnr": 0.0, "ms_ssim": 0.0, "n": 0, "t": start}
    while step < steps:
        x = torch.from_numpy(_batch(images, rng, batch, crop)).permute(0, 3, 1, 2).float() / 255.0
        k = rungs[int(rng.integers(len(rungs)))]
        with torch.no_grad():
            idx = torch.cat([model.quantize.indices(encode_tiled(model, x[i:i + 1], TILE), prep.books[k])
                             for i in range(batch)])
        zq = model.quantize.lookup(idx, decode_books[k])
        x_hat = torch.cat([decode_tiled(model, zq[i:i + 1], TILE) for i in range(batch)])
        similarity = ms_ssim(x_hat.clamp(0, 1), x, data_range=1.0)
        loss = ms_ssim_weight * (1 - similarity) + (1 - ms_ssim_weight) * (x_hat - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        window["loss"] += loss.item()
        window["psnr"] += -10 * np.log10(max(F.mse_loss(x_hat.detach().clamp(0, 1), x).item(), 1e-10))
        window["ms_ssim"] += similarity.item()
        window["n"] += 1
        if step % 50 == 0:
            n = window["n"]
            row = {"step": step, "loss": round(window["loss"] / n, 5), "psnr": round(window["psnr"] / n, 2),
                   "ms_ssim": round(window["ms_ssim"] / n, 4), "lr": lr,
                   "steps_per_s": round(n / max(time.time() - window["t"], 1e-9), 3)}
            window = {"loss": 0.0, "psnr": 0.0, "ms_ssim": 0.0, "n": 0, "t": time.time()}
            with history.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            log(json.dumps(row))
        if time.time() - last > checkpoint_seconds:
            save()
            last = time.time()
        if max_seconds and time.time() - start > max_seconds:
            break
    save()
    return ckpt


def export_tuned_decoder(run: Path, command: str, weights_dir: Path = WEIGHTS_DIR) -> dict:
    """Write the tuned decoder of run folder `run` into the shipped weights. The previous file is retired (kept
    for decoding the files written with it); codebooks, ladder and priors are carried over unchanged."""
    import torch

    from rcodec.weights import retire, sha256_file

    state = torch.load(run / "state.pt", map_location="cpu", weights_only=False)
    path = weights_dir / WEIGHTS_NAME
    if sha256_file(path) != state["base_sha256"]:
        raise ValueError(f"{run} tuned other weights than the shipped {WEIGHTS_NAME}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    for key, value in state["tuned"].items():
        if key not in payload["state_dict"]:
            raise ValueError(f"{run} has a parameter {key} the shipped model does not")
        payload["state_dict"][key] = value.half()
    if set(state["decode_books"]) != set(payload["codebooks"]):
        raise ValueError(f"{run} has decoding codebooks for other rungs than the shipped ladder")
    payload["decode_books"] = {k: v.half() for k, v in state["decode_books"].items()}
    manifest_path = weights_dir / "WEIGHTS.json"
    entry = dict(json.loads(manifest_path.read_text())[WEIGHTS_NAME])
    retire(weights_dir, WEIGHTS_NAME)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    entry.update({"sha256": sha256_file(path), "bytes": path.stat().st_size,
                  "decoder_tuning": {"steps": state["step"], "base_sha256": state["base_sha256"],
                                     "command": command}})
    manifest = json.loads(manifest_path.read_text())
    manifest[WEIGHTS_NAME] = entry
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return entry
