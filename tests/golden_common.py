"""What golden files are made of, shared by tests/make_golden.py and tests/test_golden.py."""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
GOLDEN = SAMPLES / "golden"

# (file name, source, codec, params, coders: None for every registered coder)
PRESETS: list[tuple[str, str, str, dict, list[str] | None]] = [
    ("kodim23_crop.lossless.{coder}.rcz", "kodim23_crop.png", "lossless", {}, None),
    ("speech_libri1_3s.lossless.{coder}.rcz", "speech_libri1_3s.wav", "lossless", {}, None),
    *[(f"kodim23_crop.{codec}.q{q}.{{coder}}.rcz", "kodim23_crop.png", codec, {"quality": q}, ["rans"])
      for codec in ("factorized", "hyperprior", "hyperprior-iscs") for q in range(1, 9)],
    *[(f"kodim23_crop.{codec}.q4.{{coder}}.rcz", "kodim23_crop.png", codec, {"quality": 4}, ["rans"])
      for codec in ("alit", "karl")],
    *[(f"kodim23_crop.vqgan.q{q}.{{coder}}.rcz", "kodim23_crop.png", "vqgan", {"quality": q}, ["rans"])
      for q in (1, 3, 5)],
    ("kodim23_crop.vqgan.q3.scale1.5.{coder}.rcz", "kodim23_crop.png", "vqgan", {"quality": 3, "scale": 1.5},
     ["rans"]),
    ("mnist_test_0.pc-mnist.{coder}.rcz", "mnist_test_0.png", "pc-mnist", {}, ["rans", "range"]),
    ("mnist_test_0-3.pc-mnist.{coder}.rcz", "mnist_test_0-3.png", "pc-mnist", {}, ["rans"]),
]


def golden_clip():
    """Five 16x24 frames panning over the sample photo at 25 frames/s (the source of the video golden files)."""
    from fractions import Fraction

    import numpy as np
    from PIL import Image

    from rcodec.media import Media

    image = np.asarray(Image.open(SAMPLES / "kodim23_crop.png").convert("RGB"))
    frames = np.stack([image[40 + t : 56 + t, 30 + 2 * t : 54 + 2 * t] for t in range(5)])
    media = Media("video", np.ascontiguousarray(frames), "MP4")
    media.extra["frame_rate"] = Fraction(25)
    return media


VIDEO_GOLDEN = {"clip_5x16x24.lossless.rcz": ("lossless", {}),
                "clip_5x16x24.nirvana.q3.rcz": ("nirvana", {"quality": 3, "effort": 1, "group": 2, "patch": 4,
                                                            "depth": 2})}


def cpu_signature() -> str:
    """Processor architecture and instruction-set flags: float kernels (and so a lossy codec's pixels) are
    reproducible bit for bit only between machines that agree on these."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = " ".join(sorted(line.split(":", 1)[1].split()))
                break
    except OSError:
        pass
    return hashlib.sha256(f"{platform.machine()} {flags}".encode()).hexdigest()[:16]
