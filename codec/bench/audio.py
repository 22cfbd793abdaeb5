"""`rcodec bench audio`: rate (kbit/s) and SNR per clip of audio codecs, by codec id through the public API, with
MP3, Opus and FLAC (written by soundfile/libsndfile) as baselines."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..media import Audio

SUFFIXES = (".wav", ".flac", ".ogg")
# libsndfile quality knob: compression_level 0 (best, largest) .. 1 (smallest)
BASELINES = {"mp3": ("MP3", "MPEG_LAYER_III"), "opus": ("OGG", "OPUS"), "flac": ("FLAC", "PCM_16")}


def snr(ref: np.ndarray, out: np.ndarray) -> float:
    n = min(len(ref), len(out))
    err = np.sum((ref[:n].astype(np.float64) - out[:n]) ** 2)
    return float("inf") if err == 0 else float(10 * np.log10(np.sum(ref[:n].astype(np.float64) ** 2) / err))


def _baseline(name: str, audio: Audio, level: float, bitrate_mode: str | None = None) -> tuple[int, np.ndarray]:
    import soundfile as sf

    fmt, subtype = BASELINES[name]
    buf = io.BytesIO()
    kwargs = {} if name == "flac" else {"compression_level": level}
    if bitrate_mode:
        kwargs["bitrate_mode"] = bitrate_mode
    with sf.SoundFile(buf, "w", audio.sample_rate, audio.channels, subtype, format=fmt, **kwargs) as f:
        f.write(audio.samples)
    data = buf.getvalue()
    decoded, _ = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return len(data), decoded


def _baseline_at_rate(name: str, audio: Audio, kbps: float) -> tuple[float, float, np.ndarray]:
    """Constant-bitrate encode whose rate is nearest `kbps`: bisection on libsndfile's compression level (0 is the
    highest rate). Returns (level, kbit/s, decoded)."""
    seconds = audio.frames / audio.sample_rate
    lo, hi = 0.0, 1.0
    best: tuple[float, float, np.ndarray] | None = None
    for _ in range(10):
        level = (lo + hi) / 2
        size, out = _baseline(name, audio, level, "CONSTANT")
        rate = size * 8 / seconds / 1000
        if best is None or abs(rate - kbps) < abs(best[1] - kbps):
            best = (level, rate, out)
        lo, hi = (level, hi) if rate > kbps else (lo, level)
    assert best is not None
    return best


def run(codecs: list[str], dataset: Path, baselines: list[str], params: dict[str, Any], limit: int | None,
        levels: tuple[float, ...] = (0.3, 0.5, 0.7), baseline_kbps: tuple[float, ...] = ()) -> dict:
    import rcodec
    from rcodec.media import load_path

    clips = sorted(p for p in dataset.iterdir() if p.suffix.lower() in SUFFIXES)[:limit]
    rows = []
    for clip in clips:
        media = load_path(clip)
        audio = media.data
        seconds = audio.frames / audio.sample_rate
        for codec in codecs:
            t0 = time.perf_counter()
            data = rcodec.encode(audio, codec=codec, **params)
            t1 = time.perf_counter()
            out = rcodec.decode(data)
            t2 = time.perf_counter()
            rows.append({"clip": clip.name, "codec": codec, "kbps": len(data) * 8 / seconds / 1000,
                         "snr": snr(audio.samples, out.samples), "encode_s": t1 - t0, "decode_s": t2 - t1})
        for name in baselines:
            for level in (levels if name != "flac" else (0.0,)):
                try:
                    size, out = _baseline(name, audio, level)
                except Exception as exc:  # an older libsndfile lacks MP3 or Opus: say so and go on
                    print(f"{name}: not available here ({exc})", file=sys.stderr)
                    break
                rows.append({"clip": clip.name, "codec": name, "level": level, "kbps": size * 8 / seconds / 1000,
                             "snr": snr(audio.samples, out)})
            for target in baseline_kbps if name != "flac" else ():
                try:
                    level, rate, out = _baseline_at_rate(name, audio, target)
                except Exception as exc:  # no constant-bitrate mode in this libsndfile
                    print(f"{name} at {target} kbit/s: not available here ({exc})", file=sys.stderr)
                    break
                rows.append({"clip": clip.name, "codec": name, "level": round(level, 4), "mode": "constant",
                             "target_kbps": target, "kbps": rate, "snr": snr(audio.samples, out)})
    return {"command": " ".join(sys.argv), "dataset": str(dataset), "params": params, "rows": rows}
