"""Regenerate samples/golden/: `python tests/make_golden.py` (only after a deliberate bitstream version bump)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import rcodec
from rcodec import container
from rcodec.pipeline import decode_bytes

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
GOLDEN = SAMPLES / "golden"

# (file name, source, codec, params, coders: None for every registered coder)
PRESETS: list[tuple[str, str, str, dict, list[str] | None]] = [
    ("kodim23_crop.lossless.{coder}.rcz", "kodim23_crop.png", "lossless", {}, None),
    ("speech_libri1_3s.lossless.{coder}.rcz", "speech_libri1_3s.wav", "lossless", {}, None),
    *[(f"kodim23_crop.{codec}.q{q}.{{coder}}.rcz", "kodim23_crop.png", codec, {"quality": q}, ["rans"])
      for codec in ("factorized", "hyperprior") for q in range(1, 9)],
]


def golden_presets() -> list[tuple[str, str, str, dict, str]]:
    registered = sorted(rcodec.get_registry().coders())
    out = []
    for name, source, codec, params, coders in PRESETS:
        for coder in coders or registered:
            out.append((name.format(coder=coder), source, codec, params, coder))
    return out


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    manifest = {}
    for name, source, codec, params, coder in golden_presets():
        data = rcodec.encode(SAMPLES / source, codec=codec, coder=coder, **params)
        media, _ = decode_bytes(data)
        (GOLDEN / name).write_bytes(data)
        manifest[name] = {
            "source": source, "codec": codec, "coder": coder, "params": params,
            "codec_version": container.read_header(data)[0].codec_version,
            "sha256": hashlib.sha256(data).hexdigest(),
            "decoded_sha256": hashlib.sha256(media.canonical_bytes()).hexdigest(),
        }
        print(f"{name}: {len(data)} bytes")
    (GOLDEN / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
