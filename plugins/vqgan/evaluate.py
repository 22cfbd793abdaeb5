"""Measurements the image bench does not make: bits per index of each prior, quality versus lost indices, and
JPEG / WebP / AVIF at their lowest settings (the bench's baseline ladders stop at quality 5).

`python -m rcodec.plugins.vqgan.evaluate DATASET [LIMIT]` prints one JSON object.
`python -m rcodec.plugins.vqgan.evaluate DATASET LIMIT --state STATE.pt` instead measures a training state of
`rcodec train vqgan` (not exported: its own codebook, no ladder) at the top rung: mean PSNR and MS-SSIM with the
codec's tiled encoder and decoder, to compare checkpoints before an export."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from rcodec.torch_runtime import restores_threads


def index_grids(prep, images: list[np.ndarray]) -> dict[int, list[np.ndarray]]:
    """Each image's index grid at every rung (the encoder runs once per image; rungs share its latent)."""
    import torch
    import torch.nn.functional as F

    from rcodec.torch_runtime import codec_inference

    from .codec import _grid
    from .model import encode_tiled

    f = prep.model.cfg.factor
    grids: dict[int, list[np.ndarray]] = {k: [] for k in sorted(prep.books)}
    with codec_inference():
        for img in images:
            grid = _grid(img.shape[0], img.shape[1], f)
            x = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1)[None].float() / 255.0
            x = F.pad(x, (0, grid[1] * f - img.shape[1], 0, grid[0] * f - img.shape[0]), mode="replicate")
            z = encode_tiled(prep.model, x.contiguous(memory_format=torch.channels_last), prep.tile)
            for k, book in prep.books.items():
                grids[k].append(prep.model.quantize.indices(z, book)[0].numpy())
    return grids


def coded_bits(prep, k: int, grid: np.ndarray, prior: str) -> int:
    """Bits of one grid's entropy-coded stream under a prior, through the same calls the codec makes."""
    from rcodec import SymbolSink
    from rcodec.entropy.rans import RansCoder

    from .codec import _tables
    from .context import write_grid

    sink = SymbolSink(RansCoder())
    if prior == "context":
        write_grid(sink, prep.context[k], grid, _tables(prep, k, "categorical"))
    else:
        sink.write(grid.ravel(), _tables(prep, k, prior))
    return 8 * sum(len(stream) for stream in sink.finish()[0])


def evaluate(dataset: Path, limit: int = 24, fractions=(0.0, 0.1, 0.2, 0.3)) -> dict:
    from PIL import Image

    import rcodec
    from rcodec.bench.image import ms_ssim, psnr

    from .codec import _load
    from .export import LADDER

    files = sorted(p for p in dataset.iterdir() if p.suffix.lower() == ".png")[:limit]
    images = [np.asarray(Image.open(p).convert("RGB")) for p in files]
    prep = _load(None)
    out: dict = {"images": len(images), "bits_per_index": {}, "lost": {}, "command": "python -m " + " ".join(
        ["rcodec.plugins.vqgan.evaluate"] + sys.argv[1:])}
    grids = index_grids(prep, images)
    for k in LADDER:
        priors = ("uniform", "categorical") + (("context",) if k in prep.context else ())
        indices = sum(g.size for g in grids[k])
        out["bits_per_index"][k] = {prior: round(sum(coded_bits(prep, k, g, prior) for g in grids[k]) / indices, 4)
                                    for prior in priors}
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
    out["ms_ssim_terms"] = {"weights": MS_SSIM_WEIGHTS, "vqgan_top": mean_terms(
        [(img, rcodec.decode(data)) for img, data in zip(images, encoded)]), "webp_lowest": mean_terms(
        [(img, _pillow(img, *LOWEST["webp"])[1]) for img in images])}
    out["thumbnail_16"] = thumbnail_bound(images, 16)
    return out


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_terms(a: np.ndarray, b: np.ndarray) -> list[float]:
    """The five factors of MS-SSIM (11-pixel Gaussian window, sigma 1.5): contrast-structure at scales 1-4 and the
    full SSIM at scale 5 (1/16 resolution), averaged over the colour channels; MS-SSIM is (within ~1e-3: it averages
    the channels last) their product with `MS_SSIM_WEIGHTS` as exponents. They show at which scale a reconstruction
    loses."""
    import torch
    import torch.nn.functional as F

    coords = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-coords ** 2 / (2 * 1.5 ** 2))
    g = (g / g.sum()).repeat(3, 1, 1, 1)

    def blur(t):
        return F.conv2d(F.conv2d(t, g.view(3, 1, 1, 11), groups=3), g.view(3, 1, 11, 1), groups=3)

    x = torch.from_numpy(np.array(a, np.float64)).permute(2, 0, 1)[None]
    y = torch.from_numpy(np.array(b, np.float64)).permute(2, 0, 1)[None]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    terms = []
    for scale in range(5):
        mx, my = blur(x), blur(y)
        vx, vy, cov = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
        cs = (2 * cov + c2) / (vx + vy + c2)
        terms.append(float((cs if scale < 4 else cs * (2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)).mean()))
        x = F.avg_pool2d(x, 2, padding=[d % 2 for d in x.shape[2:]])
        y = F.avg_pool2d(y, 2, padding=[d % 2 for d in y.shape[2:]])
    return terms


def mean_terms(pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    return [round(float(v), 4) for v in np.mean([ms_ssim_terms(a, b) for a, b in pairs], axis=0)]


def thumbnail_bound(images: list[np.ndarray], factor: int) -> dict:
    """PSNR / MS-SSIM of the image shrunk by `factor` (box filter) and enlarged again (bicubic): 24 raw bits per
    grid cell of an f`factor` tokenizer, what the cells' colours alone give back."""
    from PIL import Image

    from rcodec.bench.image import ms_ssim, psnr

    ps, ms = [], []
    for img in images:
        pil = Image.fromarray(img)
        small = pil.resize((max(1, pil.width // factor), max(1, pil.height // factor)), Image.BOX)
        back = np.asarray(small.resize(pil.size, Image.BICUBIC))
        ps.append(psnr(img, back))
        ms.append(ms_ssim(img, back))
    return {"bits_per_cell": 24, "psnr": round(float(np.mean(ps)), 3), "ms_ssim": round(float(np.mean(ms)), 4)}


LOWEST = {"jpeg": ("JPEG", {"quality": 1}), "webp": ("WEBP", {"quality": 0, "method": 6}),
          "avif": ("AVIF", {"quality": 0, "speed": 6})}


def _pillow(img: np.ndarray, fmt: str, kwargs: dict) -> tuple[int, np.ndarray]:
    """(bytes, decoded pixels) of one Pillow round trip."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt, **kwargs)
    return buf.tell(), np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def lowest_baselines(images: list[np.ndarray]) -> dict:
    """Mean bpp, PSNR and MS-SSIM of each Pillow format at its lowest quality setting."""
    from rcodec.bench.image import ms_ssim, psnr

    out = {}
    for name, (fmt, kwargs) in LOWEST.items():
        bpp, ps, ms = [], [], []
        for img in images:
            try:
                size, dec = _pillow(img, fmt, kwargs)
            except (KeyError, OSError, ValueError):  # a Pillow built without this format
                break
            bpp.append(8 * size / (img.shape[0] * img.shape[1]))
            ps.append(psnr(img, dec))
            ms.append(ms_ssim(img, dec))
        if bpp:
            out[name] = {"settings": kwargs, "bpp": round(float(np.mean(bpp)), 4),
                         "psnr": round(float(np.mean(ps)), 3), "ms_ssim": round(float(np.mean(ms)), 4)}
    return out


@restores_threads
def evaluate_state(dataset: Path, limit: int, state_path: Path) -> dict:
    """Top-rung PSNR / MS-SSIM of a training state's float model (its trained codebook, no entropy coding)."""
    import torch
    import torch.nn.functional as F
    from PIL import Image

    from rcodec.bench.image import ms_ssim, psnr

    from .codec import _grid
    from .export import TILE, load_training_state
    from .model import decode_tiled, encode_tiled

    torch.set_num_threads(1)
    model, state = load_training_state(state_path)
    cfg = model.cfg
    f = cfg.factor
    ps, ms = [], []
    for path in sorted(p for p in dataset.iterdir() if p.suffix.lower() == ".png")[:limit]:
        img = np.asarray(Image.open(path).convert("RGB"))
        grid = _grid(img.shape[0], img.shape[1], f)
        x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255.0
        x = F.pad(x, (0, grid[1] * f - img.shape[1], 0, grid[0] * f - img.shape[0]), mode="replicate")
        with torch.no_grad():
            zq = model.quantize.lookup(model.quantize.indices(encode_tiled(model, x, TILE)))
            x_hat = decode_tiled(model, zq, TILE)[0, :, :img.shape[0], :img.shape[1]]
        dec = torch.round(x_hat.clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).numpy()
        ps.append(psnr(img, dec))
        ms.append(ms_ssim(img, dec))
    return {"state": str(state_path), "step": state["step"], "images": len(ps), "codebook": cfg.n_embed,
            "psnr": round(float(np.mean(ps)), 3), "ms_ssim": round(float(np.mean(ms)), 4),
            "command": "python -m " + " ".join(["rcodec.plugins.vqgan.evaluate"] + sys.argv[1:])}


if __name__ == "__main__":
    dataset, limit = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 24
    if "--state" in sys.argv:
        result = evaluate_state(dataset, limit, Path(sys.argv[sys.argv.index("--state") + 1]))
    else:
        result = evaluate(dataset, limit)
    print(json.dumps(result, indent=1))
