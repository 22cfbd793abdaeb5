"""`rcodec bench video`: rate (kbit/s), RGB PSNR and speed of video codecs per clip, with x264 and x265 CRF
ladders (PyAV, preset medium) measured in the same run against the same reference frames, and BD-rates.

The reference is the clip's decoded RGB frames, as rcodec reads them. PSNR is the mean of the per-frame RGB
PSNRs; a baseline's rate counts its coded packets (no container overhead), an rcodec file's rate its whole .rcz.
"""

from __future__ import annotations

import io
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SUFFIXES = (".mp4", ".mkv", ".webm", ".y4m", ".avi", ".mov")
BASELINES = {"x264": ("libx264", (23, 28, 33, 38)), "x265": ("libx265", (23, 28, 33, 38))}


def frame_psnr(ref: np.ndarray, out: np.ndarray) -> float:
    """Mean over frames of the RGB PSNR (peak 255); frames identical to the reference count as 100 dB."""
    err = ((ref.astype(np.float64) - out) ** 2).reshape(len(ref), -1).mean(axis=1)
    return float(np.mean(10 * np.log10(255.0**2 / np.maximum(err, 255.0**2 * 1e-10))))


def baseline(codec: str, frames: np.ndarray, rate, crf: int) -> tuple[int, np.ndarray, float, float]:
    """Encode RGB frames as 4:2:0 with `codec` at `crf` (preset medium); returns (packet bytes, decoded frames,
    encode seconds, decode seconds)."""
    import av

    height, width = frames.shape[1:3]
    t0 = time.perf_counter()
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base, ctx.framerate = width, height, "yuv420p", 1 / rate, rate
    options = {"crf": str(crf), "preset": "medium"}
    if codec == "libx265":
        options["x265-params"] = "log-level=error"
    ctx.options = options
    packets = []
    for i, pixels in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets += [bytes(p) for p in ctx.encode(frame)]
    packets += [bytes(p) for p in ctx.encode(None)]
    t1 = time.perf_counter()
    dec = av.CodecContext.create(codec.removeprefix("lib").replace("x264", "h264").replace("x265", "hevc"), "r")
    if ctx.extradata:
        dec.extradata = ctx.extradata
    out = []
    for data in packets:
        out += [f.to_ndarray(format="rgb24") for f in dec.decode(av.Packet(data))]
    out += [f.to_ndarray(format="rgb24") for f in dec.decode(None)]
    t2 = time.perf_counter()
    return sum(len(p) for p in packets), np.stack(out), t1 - t0, t2 - t1


def _point(label: str, quality: Any, size: int, decoded: np.ndarray, ref: np.ndarray, seconds: float,
           encode_s: float, decode_s: float) -> dict[str, Any]:
    if decoded.shape != ref.shape:
        raise RuntimeError(f"{label}: decoded {decoded.shape}, expected {ref.shape}")
    return {"quality": quality, "bytes": size, "kbps": 8 * size / seconds / 1000, "psnr": frame_psnr(ref, decoded),
            "encode_s": encode_s, "decode_s": decode_s, "encode_fps": len(ref) / encode_s,
            "decode_fps": len(ref) / decode_s}


def run(codecs: list[str], dataset: Path, qualities: list[int] | None, params: dict[str, Any],
        frames: int | None, baselines: list[str], progress=None) -> dict:
    from ..media import load_path
    from ..pipeline import decode_bytes, encode_media
    from ..registry import get_registry
    from .bdrate import bd_rate

    clips = sorted(p for p in dataset.iterdir() if p.suffix.lower() in SUFFIXES)
    if not clips:
        raise FileNotFoundError(f"no video clips ({', '.join(SUFFIXES)}) in {dataset}")
    results = []
    for clip in clips:
        media = load_path(clip)
        if frames:
            media.data = np.ascontiguousarray(media.data[:frames])
        ref, rate = media.data, media.extra["frame_rate"]
        seconds = float(len(ref) / rate)
        row: dict[str, Any] = {"clip": clip.name, "frames": len(ref), "size": list(ref.shape[1:3]),
                               "frame_rate": float(rate), "codecs": {}, "baselines": {}, "bd_rate": {}}
        for codec in codecs:
            option = get_registry().codec(codec).options.get("quality")
            ladder = (qualities or list(option.choices or [option.default])) if option else [None]
            points = []
            for q in ladder:
                t0 = time.perf_counter()
                data = encode_media(media, codec, None, **params, **({} if q is None else {"quality": q}))
                t1 = time.perf_counter()
                decoded, _ = decode_bytes(data)
                t2 = time.perf_counter()
                points.append(_point(codec, q, len(data), decoded.data, ref, seconds, t1 - t0, t2 - t1))
                if progress:
                    progress(clip.name, codec, points[-1])
            row["codecs"][codec] = points
        for name in baselines:
            lib, crfs = BASELINES[name]
            points = []
            for crf in crfs:
                size, decoded, enc, dec = baseline(lib, ref, rate, crf)
                points.append(_point(name, crf, size, decoded, ref, seconds, enc, dec))
                if progress:
                    progress(clip.name, f"{name} crf", points[-1])
            row["baselines"][name] = points
        for codec, points in row["codecs"].items():
            row["bd_rate"][codec] = {
                name: bd_rate([p["kbps"] for p in base], [p["psnr"] for p in base],
                              [p["kbps"] for p in points], [p["psnr"] for p in points])
                for name, base in row["baselines"].items()}
        results.append(row)
    return {"clips": results, "params": params, "command": " ".join(["rcodec", *sys.argv[1:]]),
            "machine": {"platform": platform.platform(), "python": platform.python_version()}}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = result["clips"]
    fig, axes = plt.subplots(1, len(clips), figsize=(6 * len(clips), 4.5), squeeze=False)
    for ax, row in zip(axes[0], clips):
        for group, style in (("codecs", "o-"), ("baselines", "s--")):
            for name, points in row[group].items():
                ax.plot([p["kbps"] for p in points], [p["psnr"] for p in points], style, label=name)
        ax.set(title=f"{row['clip']} ({row['frames']} frames)", xlabel="kbit/s", ylabel="RGB PSNR (dB)")
        ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    path.write_bytes(buf.getvalue())
