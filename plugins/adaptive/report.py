"""`rcodec bench adaptive`: the figures of the adaptive tokenizers on a folder of images (Kodak):

- per image at one target: tokens used by ALIT and KARL vs two complexity proxies (PNG size, gradient energy), with
  Spearman's rank correlation, and KARL's per-tile agreement (within one ladder step) with ALIT and encode times;
- a flat grey image: the tokens it gets (it should get the minimum, one per tile);
- rate-distortion: ALIT/KARL at several targets, with the target per tile (`alit`, `karl`) and for the image as a
  whole (`alit-image`, `karl-image`: allocation="image"), vs the fixed-length control at every ladder length, and
  the bits the adaptive codecs save at equal mean PSNR (the control's log-rate interpolated at their PSNR).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def png_bytes(image: np.ndarray) -> int:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=9)
    return buf.tell()


def gradient_energy(image: np.ndarray) -> float:
    """Mean squared finite difference of the luma: high for texture and edges, zero for a flat image."""
    y = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return float((np.diff(y, axis=0) ** 2).mean() + (np.diff(y, axis=1) ** 2).mean())


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 100.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def _run(image: np.ndarray, codec: str, weights: str | None, **params) -> dict:
    import rcodec

    from .codec import tile_counts

    extra = {"weights": weights} if weights else {}
    t0 = time.perf_counter()
    data = rcodec.encode(image, codec=codec, **params, **extra)
    t1 = time.perf_counter()
    out = rcodec.decode(data, **extra)
    counts = tile_counts(data, weights)
    return {"bpp": 8 * len(data) / (image.shape[0] * image.shape[1]), "psnr": _psnr(out, image),
            "encode_s": t1 - t0, "tokens": int(counts.sum()), "counts": counts}


def savings(adaptive: list[dict], fixed: list[dict]) -> list[float | None]:
    """Per adaptive point: 1 - bpp / bpp_fixed(at the same mean PSNR), the fixed curve interpolated in log rate;
    None outside the fixed curve's PSNR range."""
    fp = np.array([p["psnr"] for p in fixed])
    fr = np.log(np.array([p["bpp"] for p in fixed]))
    order = np.argsort(fp)
    fp, fr = fp[order], fr[order]
    out: list[float | None] = []
    for p in adaptive:
        if not fp[0] <= p["psnr"] <= fp[-1]:
            out.append(None)
            continue
        out.append(round(float(1 - p["bpp"] / np.exp(np.interp(p["psnr"], fp, fr))), 4))
    return out


def run(dataset: Path, target: float, targets: list[float], fixed: list[int], weights: str | None = None,
        limit: int = 0, log: Callable[[str], None] = print, slopes: tuple[float, ...] = (),
        rd_only: bool = False) -> dict:
    from PIL import Image

    from .codec import _load

    ladder = list(_load(weights).model.cfg.ladder)
    files = sorted(p for p in Path(dataset).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if limit:
        files = files[:limit]
    images = {p.name: np.asarray(Image.open(p).convert("RGB")) for p in files}
    rows = []
    rd: dict[str, dict] = {"alit": {t: [] for t in targets}, "karl": {t: [] for t in targets},
                           "alit-image": {t: [] for t in targets}, "karl-image": {t: [] for t in targets},
                           "alit-slope": {s: [] for s in slopes}, "karl-slope": {s: [] for s in slopes},
                           "alit-fixed": {k: [] for k in fixed}}
    if rd_only:
        rd = {key: value for key, value in rd.items() if key.endswith(("-slope", "-fixed"))}
    for name, image in images.items():
        row = {"image": name, "png_bytes": png_bytes(image), "gradient_energy": round(gradient_energy(image), 2)}
        for slope in slopes:
            for codec in ("alit", "karl"):
                point = _run(image, codec, weights, allocation="slope", slope=slope)
                rd[f"{codec}-slope"][slope].append(point)
                row[f"{codec}_slope{slope:g}_bpp"] = round(point["bpp"], 4)
        for t in [] if rd_only else sorted(set(targets) | {target}):
            a = _run(image, "alit", weights, target_psnr=t)
            k = _run(image, "karl", weights, target_psnr=t)
            steps_a = np.searchsorted(ladder, a["counts"])
            steps_k = np.searchsorted(ladder, k["counts"])
            agree = float(np.mean(np.abs(steps_a - steps_k) <= 1))
            row[f"alit_tokens@{t:g}"] = a["tokens"]
            row[f"karl_tokens@{t:g}"] = k["tokens"]
            row[f"karl_within_one_step@{t:g}"] = round(agree, 3)
            if t in targets:
                rd["alit"][t].append(a)
                rd["karl"][t].append(k)
                for codec in ("alit", "karl"):
                    rd[f"{codec}-image"][t].append(_run(image, codec, weights, target_psnr=t, allocation="image"))
            if t == target:
                row |= {"alit_tokens": a["tokens"], "karl_tokens": k["tokens"], "tiles": int(a["counts"].size),
                        "alit_bpp": round(a["bpp"], 4), "alit_psnr": round(a["psnr"], 2),
                        "karl_bpp": round(k["bpp"], 4), "karl_psnr": round(k["psnr"], 2),
                        "karl_within_one_step": round(agree, 3),
                        "alit_encode_s": round(a["encode_s"], 3), "karl_encode_s": round(k["encode_s"], 3)}
        for n in fixed:
            rd["alit-fixed"][n].append(_run(image, "alit-fixed", weights, fixed_tokens=n))
        rows.append(row)
        log(" ".join(f"{k}={v}" for k, v in row.items()))
    if rd_only:
        return _rd_summary(dataset, rows, rd)
    grey = _run(np.full((256, 256, 3), 128, np.uint8), "alit", weights, target_psnr=target)
    grey_k = _run(np.full((256, 256, 3), 128, np.uint8), "karl", weights, target_psnr=target)

    curves = _curves(rd)
    tokens = [r["alit_tokens"] for r in rows]
    result = {
        "dataset": str(dataset), "images": len(rows), "target_psnr": target, "per_image": rows,
        "spearman_alit_tokens_vs_png_bytes": round(spearman(tokens, [r["png_bytes"] for r in rows]), 4),
        "spearman_alit_tokens_vs_gradient_energy": round(spearman(tokens, [r["gradient_energy"] for r in rows]), 4),
        "spearman_karl_tokens_vs_png_bytes": round(spearman([r["karl_tokens"] for r in rows],
                                                            [r["png_bytes"] for r in rows]), 4),
        "spearman_per_target": {f"{t:g}": {
            "alit_vs_png": round(spearman([r[f"alit_tokens@{t:g}"] for r in rows], [r["png_bytes"] for r in rows]), 4),
            "alit_vs_gradient": round(spearman([r[f"alit_tokens@{t:g}"] for r in rows],
                                               [r["gradient_energy"] for r in rows]), 4),
            "karl_vs_png": round(spearman([r[f"karl_tokens@{t:g}"] for r in rows], [r["png_bytes"] for r in rows]), 4),
            "karl_within_one_step_of_alit": round(float(np.mean([r[f"karl_within_one_step@{t:g}"] for r in rows])), 4)}
            for t in sorted(set(targets) | {target})},
        "karl_within_one_step_of_alit": round(float(np.mean([r["karl_within_one_step"] for r in rows])), 4),
        "encode_s_alit": round(float(np.mean([r["alit_encode_s"] for r in rows])), 3),
        "encode_s_karl": round(float(np.mean([r["karl_encode_s"] for r in rows])), 3),
        "grey_256": {"alit_tokens_per_tile": sorted(set(grey["counts"].tolist())),
                     "karl_tokens_per_tile": sorted(set(grey_k["counts"].tolist())), "minimum": ladder[0]},
        "rd": curves,
        "bit_savings_vs_fixed": {c: savings(curves[c], curves["alit-fixed"]) for c in curves if c != "alit-fixed"},
    }
    return result


def _mean(points: list[dict]) -> dict:
    return {"bpp": round(float(np.mean([p["bpp"] for p in points])), 4),
            "psnr": round(float(np.mean([p["psnr"] for p in points])), 3),
            "encode_s": round(float(np.mean([p["encode_s"] for p in points])), 3),
            "tokens_per_tile": round(float(np.mean([p["counts"].mean() for p in points])), 3)}


def _curves(rd: dict[str, dict]) -> dict[str, list[dict]]:
    return {codec: [{"point": key, **_mean(pts)} for key, pts in points.items()] for codec, points in rd.items()}


def _rd_summary(dataset: Path, rows: list[dict], rd: dict[str, dict]) -> dict:
    """The rate-distortion part alone (`--rd-only`): curves and the bits saved against the fixed control."""
    curves = _curves(rd)
    return {"dataset": str(dataset), "images": len(rows), "per_image": rows, "rd": curves,
            "bit_savings_vs_fixed": {c: savings(curves[c], curves["alit-fixed"]) for c in curves if c != "alit-fixed"}}
