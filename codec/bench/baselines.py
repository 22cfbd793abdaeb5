"""Image baselines of `rcodec bench image` beyond Pillow's plain formats.

- `avif-down`: what a user does at extreme rates today: shrink the image (Lanczos), save it as AVIF, and scale
  the decoded image back up (bicubic). Every downscale factor x AVIF quality is one raw point; the baseline's
  curve is the upper convex hull of those points in (bpp, quality) space, i.e. the best trade-off a user could
  reach by picking the setting per rate.
- `jpegxl`: libjxl through `imagecodecs` (the `bench` extra), effort 7, at a ladder of butteraugli distances.
  Absent when `imagecodecs` has no JPEG XL encoder.
"""

from __future__ import annotations

import io
import math

import numpy as np

AVIF_DOWN_FACTORS = (1.0, 1.5, 2.0, 3.0, 4.0)
AVIF_DOWN_QUALITIES = (10, 25, 40, 60)
AVIF_KWARGS = {"speed": 6, "subsampling": "4:4:4"}
JPEGXL_DISTANCES = (0.3, 0.6, 1.0, 1.5, 2.0, 3.0, 4.5, 6.0, 9.0, 13.0)
JPEGXL_EFFORT = 7


def avif_down_settings() -> list[str]:
    """The raw settings, named `<factor>x@<quality>`."""
    return [f"{f:g}x@{q}" for f in AVIF_DOWN_FACTORS for q in AVIF_DOWN_QUALITIES]


def parse_avif_down(setting: str) -> tuple[float, int]:
    factor, _, quality = setting.partition("x@")
    return float(factor), int(quality)


def avif_down_round_trip(image: np.ndarray, setting: str) -> tuple[int, np.ndarray]:
    """(AVIF bytes of the downscaled image, the decoded image scaled back to the original size)."""
    from PIL import Image

    factor, quality = parse_avif_down(setting)
    height, width = image.shape[:2]
    small = Image.fromarray(image)
    if factor != 1.0:
        size = (max(1, round(width / factor)), max(1, round(height / factor)))
        small = small.resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, format="AVIF", quality=quality, **AVIF_KWARGS)
    with Image.open(io.BytesIO(buf.getvalue())) as img:
        decoded = img.convert("RGB")
        if decoded.size != (width, height):
            decoded = decoded.resize((width, height), Image.Resampling.BICUBIC)
        return len(buf.getvalue()), np.asarray(decoded)


def jpegxl_available() -> bool:
    try:
        import imagecodecs
    except ImportError:
        return False
    return bool(getattr(imagecodecs, "JPEGXL", None) and imagecodecs.JPEGXL.available)


def jpegxl_round_trip(image: np.ndarray, distance: float) -> tuple[int, np.ndarray]:
    import imagecodecs

    data = imagecodecs.jpegxl_encode(np.ascontiguousarray(image), distance=distance, effort=JPEGXL_EFFORT)
    return len(data), np.asarray(imagecodecs.jpegxl_decode(data))[..., :3]


def ms_ssim_db(value: float) -> float:
    """MS-SSIM on a decibel scale, -10 log10(1 - MS-SSIM): BD-rates on it weigh high and low rates alike."""
    return -10 * math.log10(max(1e-10, 1 - value))


def upper_hull(points: list[dict], key: str) -> list[dict]:
    """The points on the upper convex hull of (bpp, `key`): for every rate, the best quality reachable by choosing
    among the settings; sorted by rate, quality increasing with it."""
    pts = sorted((p for p in points if math.isfinite(p[key])), key=lambda p: (p["bpp"], -p[key]))
    hull: list[dict] = []
    for p in pts:
        if hull and p[key] <= hull[-1][key]:
            continue  # more bits for no better quality
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (b["bpp"] - a["bpp"]) * (p[key] - a[key]) - (b[key] - a[key]) * (p["bpp"] - a["bpp"])
            if cross < 0:
                break  # b lies above the chord a-p: keep it
            hull.pop()
        hull.append(p)
    return hull
