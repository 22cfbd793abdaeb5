"""Regenerate samples/golden/: `python tests/make_golden.py` (only after a deliberate bitstream version bump)."""

from __future__ import annotations

import hashlib
import json

from PIL import Image

import rcodec
from golden_common import GOLDEN, PRESETS, SAMPLES, cpu_signature
from rcodec import container
from rcodec.pipeline import decode_bytes


def golden_presets() -> list[tuple[str, str, str, dict, str]]:
    registered = sorted(rcodec.get_registry().coders())
    return [(name.format(coder=coder), source, codec, params, coder)
            for name, source, codec, params, coders in PRESETS for coder in coders or registered]


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for old in GOLDEN.glob("*.rcz"):
        old.unlink()
    for old in GOLDEN.glob("*.decoded.png"):
        old.unlink()
    manifest = {}
    for name, source, codec, params, coder in golden_presets():
        data = rcodec.encode(SAMPLES / source, codec=codec, coder=coder, **params)
        media, _ = decode_bytes(data)
        (GOLDEN / name).write_bytes(data)
        entry = {
            "source": source, "codec": codec, "coder": coder, "params": params,
            "codec_version": container.read_header(data)[0].codec_version,
            "sha256": hashlib.sha256(data).hexdigest(),
            "decoded_sha256": hashlib.sha256(media.canonical_bytes()).hexdigest(),
        }
        if not rcodec.get_registry().codec(codec).lossless:
            # Lossy pixels are exact only on machines with the same float kernels: keep them to compare within
            # one level elsewhere.
            entry["decoded_png"] = name.removesuffix(".rcz") + ".decoded.png"
            Image.fromarray(media.data).save(GOLDEN / entry["decoded_png"])
        manifest[name] = entry
        print(f"{name}: {len(data)} bytes")
    payload = {"cpu_signature": cpu_signature(), "files": manifest}
    (GOLDEN / "MANIFEST.json").write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
