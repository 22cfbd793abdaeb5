"""`rcodec bench image`: rate, distortion and speed of image codecs against Pillow's JPEG, WebP, AVIF and JPEG 2000,
and on request AVIF of a downscaled image (`avif-down`) and JPEG XL (`jpegxl`, see `baselines.py`).

For every codec and rate point: per-image bpp (file bytes * 8 / pixels, headers included), PSNR on 8-bit RGB,
MS-SSIM, encode and decode seconds (after one untimed warm-up round trip per codec); means over the dataset;
BD-rate of each codec against each baseline, on PSNR (`bd_rate`) and on MS-SSIM in dB (`bd_rate_ms_ssim`); an RD
plot with the published anchor curves. Codecs are called
through the public API, exactly as a user would.
"""

from __future__ import annotations

import io
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import baselines

BASELINES: dict[str, dict[str, Any]] = {
    "jpeg": {"format": "JPEG", "qualities": [5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95], "kwargs": {}},
    "webp": {"format": "WEBP", "qualities": [5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95], "kwargs": {"method": 6}},
    "avif": {"format": "AVIF", "qualities": [5, 10, 20, 30, 40, 50, 60, 70, 80, 90],
             "kwargs": {"speed": 6, "subsampling": "4:4:4"}},
    "jpeg2000": {"format": "JPEG2000", "qualities": [200, 150, 100, 75, 50, 35, 25, 15, 10], "kwargs": {}},
    "avif-down": {"format": "AVIF", "qualities": baselines.avif_down_settings(), "hull": True},
    "jpegxl": {"format": "JXL", "qualities": list(baselines.JPEGXL_DISTANCES)},
}
DEFAULT_BASELINES = ("jpeg", "webp", "avif", "jpeg2000")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


MS_SSIM_MIN_SIDE = 161  # five scales of the 11-pixel window need a side above 160 pixels


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM of two uint8 RGB images; NaN for images too small for its five scales."""
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    if min(a.shape[:2]) < MS_SSIM_MIN_SIDE:
        return float("nan")
    ta = torch.from_numpy(np.array(a, np.float64)).permute(2, 0, 1)[None]  # a copy: decoded arrays may be read-only
    tb = torch.from_numpy(np.array(b, np.float64)).permute(2, 0, 1)[None]
    return float(_ms_ssim(ta, tb, data_range=255.0))


def _baseline_round_trip(image: np.ndarray, name: str, quality) -> tuple[int, np.ndarray, float, float]:
    if name not in ("avif-down", "jpegxl"):
        return _pillow_round_trip(image, name, quality)
    t0 = time.perf_counter()
    if name == "avif-down":
        size, decoded = baselines.avif_down_round_trip(image, quality)
    else:
        size, decoded = baselines.jpegxl_round_trip(image, quality)
    return size, decoded, time.perf_counter() - t0, 0.0  # encode + decode together


def _pillow_round_trip(image: np.ndarray, name: str, quality: int) -> tuple[int, np.ndarray, float, float]:
    from PIL import Image

    spec = BASELINES[name]
    kwargs = dict(spec["kwargs"])
    if name == "jpeg2000":
        kwargs |= {"quality_mode": "rates", "quality_layers": [quality], "irreversible": True}
    else:
        kwargs["quality"] = quality
    buf = io.BytesIO()
    t0 = time.perf_counter()
    Image.fromarray(image).save(buf, format=spec["format"], **kwargs)
    t1 = time.perf_counter()
    with Image.open(io.BytesIO(buf.getvalue())) as img:
        decoded = np.asarray(img.convert("RGB"))
    t2 = time.perf_counter()
    return len(buf.getvalue()), decoded, t1 - t0, t2 - t1


def _codec_round_trip(image: np.ndarray, codec: str, quality: int | None, params: dict):
    import rcodec

    t0 = time.perf_counter()
    data = rcodec.encode(image, codec=codec, **({"quality": quality} if quality is not None else {}), **params)
    t1 = time.perf_counter()
    decoded = rcodec.decode(data)
    t2 = time.perf_counter()
    return len(data), decoded, t1 - t0, t2 - t1


def codec_qualities(codec: str) -> list[int | None]:
    import rcodec

    cls = rcodec.get_registry().codec(codec)
    option = cls.options.get("quality")
    return list(option.choices) if option is not None and option.choices else [None]


def _summarise(per_image: list[dict]) -> dict:
    keys = ("bpp", "psnr", "ms_ssim", "encode_s", "decode_s")
    return {k: float(np.mean([r[k] for r in per_image])) for k in keys}


def baselines_available(name: str) -> bool:
    return name != "jpegxl" or baselines.jpegxl_available()


def run(codecs: list[str], dataset: Path, baseline_names: list[str], params: dict | None = None,
        limit: int | None = None, progress=None, qualities: list[int] | None = None) -> dict:
    from PIL import Image

    from .bdrate import bd_rate

    if "jpegxl" in baseline_names and not baselines_available("jpegxl"):
        raise RuntimeError("the jpegxl baseline needs imagecodecs with JPEG XL (pip install 'rcodec[bench]')")
    files = sorted(p for p in dataset.iterdir() if p.suffix.lower() in {".png", ".bmp", ".ppm", ".tif", ".tiff"})
    files = files[:limit] if limit else files
    if not files:
        raise FileNotFoundError(f"no images in {dataset}")
    images = [(p.name, np.asarray(Image.open(p).convert("RGB"))) for p in files]
    jobs: list[tuple[str, int | None, bool]] = [(c, q, False) for c in codecs for q in codec_qualities(c)
                                                if qualities is None or q is None or q in qualities]
    jobs += [(b, q, True) for b in baseline_names for q in BASELINES[b]["qualities"]]
    result: dict[str, Any] = {"codecs": {}, "baselines": {}, "per_image": {}, "warmup_s": {}}
    # One untimed round trip per codec first: loading and verifying weights, building tables and the first call's
    # allocations are paid once per process, not per image. Its time is reported as warmup_s.
    for codec in codecs:
        _, _, enc, dec = _codec_round_trip(images[0][1], codec, codec_qualities(codec)[0], params or {})
        result["warmup_s"][codec] = enc + dec
    total, done = len(jobs) * len(images), 0
    for name, quality, is_baseline in jobs:
        rows = []
        for file_name, image in images:
            if is_baseline:
                size, decoded, enc, dec = _baseline_round_trip(image, name, quality)
            else:
                size, decoded, enc, dec = _codec_round_trip(image, name, quality, params or {})
            pixels = image.shape[0] * image.shape[1]
            rows.append({"image": file_name, "bpp": 8 * size / pixels, "psnr": psnr(image, decoded),
                         "ms_ssim": ms_ssim(image, decoded), "encode_s": enc, "decode_s": dec})
            done += 1
            if progress:
                progress(done, total, f"{name} q={quality} {file_name}")
        point = {"quality": quality, **_summarise(rows)}
        (result["baselines"] if is_baseline else result["codecs"]).setdefault(name, []).append(point)
        result["per_image"].setdefault(name, []).append({"quality": quality, "images": rows})
    # A baseline with a hull keeps its raw points aside; its curve is the hull (per quality measure).
    curves = {"psnr": {}, "ms_ssim_db": {}}
    for base, points in list(result["baselines"].items()):
        for p in points:
            p["ms_ssim_db"] = baselines.ms_ssim_db(p["ms_ssim"]) if np.isfinite(p["ms_ssim"]) else float("nan")
        if BASELINES[base].get("hull"):
            result.setdefault("baseline_points", {})[base] = points
            result["baselines"][base] = baselines.upper_hull(points, "psnr")
            curves["ms_ssim_db"][base] = baselines.upper_hull(points, "ms_ssim_db")
        else:
            curves["ms_ssim_db"][base] = points
        curves["psnr"][base] = result["baselines"][base]
    result["bd_rate"], result["bd_rate_ms_ssim"] = {}, {}
    for codec, points in result["codecs"].items():
        for p in points:
            p["ms_ssim_db"] = baselines.ms_ssim_db(p["ms_ssim"]) if np.isfinite(p["ms_ssim"]) else float("nan")
        for measure, out in (("psnr", result["bd_rate"]), ("ms_ssim_db", result["bd_rate_ms_ssim"])):
            out[codec] = {}
            for base, base_points in curves[measure].items():
                ref = [p for p in base_points if np.isfinite(p[measure])]
                test = [p for p in points if np.isfinite(p[measure])]
                out[codec][base] = bd_rate([p["bpp"] for p in ref], [p[measure] for p in ref],
                                           [p["bpp"] for p in test], [p[measure] for p in test])
    result["dataset"] = str(dataset)
    result["images"] = len(images)
    result["command"] = "rcodec " + " ".join(sys.argv[1:])
    result["machine"] = {"platform": platform.platform(), "processor": platform.processor(),
                         "python": platform.python_version()}
    return result


def load_anchors(folder: Path) -> dict[str, tuple[list[float], list[float]]]:
    anchors = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        results = data.get("results", {})
        if "bpp" in results and "psnr-rgb" in results:
            anchors[data.get("name", path.stem)] = (results["bpp"], results["psnr-rgb"])
    return anchors


def plot(result: dict, path: Path, anchors: dict | None = None, max_bpp: float = 2.0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6.5))
    for name, (bpp, values) in (anchors or {}).items():
        pts = [(b, v) for b, v in zip(bpp, values) if b <= max_bpp]
        if pts:
            ax.plot(*zip(*pts), linestyle=":", linewidth=1, alpha=0.7, label=f"{name} (published)")
    for group, style in (("baselines", "--"), ("codecs", "-")):
        for name, points in result[group].items():
            pts = sorted((p["bpp"], p["psnr"]) for p in points if p["bpp"] <= max_bpp)
            if pts:
                ax.plot(*zip(*pts), linestyle=style, marker="o", markersize=3,
                        linewidth=2.2 if group == "codecs" else 1.4, label=f"{name} (this run)")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR RGB (dB)")
    ax.set_title(f"{Path(result['dataset']).name}: {result['images']} images")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
