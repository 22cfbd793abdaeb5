"""Regenerate samples/golden/: `python tests/make_golden.py` (only after a deliberate bitstream version bump).

Before new weights replace shipped ones, `python tests/make_golden.py retire TAG CODEC [CODEC ...]` keeps those
codecs' current golden files (qualities 1, 4 and 8 of a codec with more than three) under
samples/golden/retired/TAG/: they must still decode after the upgrade (the weights they were coded with ship as
retired, decode-only files).

`python tests/make_golden.py only CODEC [CODEC ...]` regenerates the golden files of those codecs alone (after a
bitstream version bump of theirs), leaving every other file as it was recorded.

`python tests/make_golden.py jpeg` regenerates only samples/golden/jpeg/ (the jpeg codec's files for the JPEG
fixtures in samples/), after a deliberate bump of that codec's version.

`python tests/make_golden.py video` regenerates only samples/golden/video/ (the lossless and `nirvana` files of a
five-frame clip cut from the sample photo).

`python tests/make_golden.py inr-vc` regenerates only samples/golden/inr/kodim23_crop_64x80.inr-vc.rcz (after new
`inr-vc` weights or a bitstream change), leaving every other golden file alone; `inr-vc-audio` likewise only
samples/golden/inr/chirp_stereo_16k.inr-vc.rcz (after new audio weights).
"""

from __future__ import annotations

import hashlib
import json
import sys

from PIL import Image

import rcodec
from golden_common import GOLDEN, PRESETS, SAMPLES, VIDEO_GOLDEN, cpu_signature, golden_clip
from rcodec import container
from rcodec.pipeline import decode_bytes


def golden_presets() -> list[tuple[str, str, str, dict, str]]:
    registered = sorted(rcodec.get_registry().coders())
    return [(name.format(coder=coder), source, codec, params, coder)
            for name, source, codec, params, coders in PRESETS for coder in coders or registered]


def _entry(name: str, source: str, codec: str, params: dict, coder: str) -> dict:
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
        # Lossy pixels are exact only on machines with the same float kernels: keep them to compare within one
        # level elsewhere.
        entry["decoded_png"] = name.removesuffix(".rcz") + ".decoded.png"
        Image.fromarray(media.data).save(GOLDEN / entry["decoded_png"])
    print(f"{name}: {len(data)} bytes")
    return entry


def only(codecs: list[str]) -> None:
    """Regenerate the golden files of `codecs` alone (after their bitstream changed), leaving the others as they
    were recorded. Entries recorded on a machine with other float kernels than the manifest's note their own
    `cpu_signature`."""
    payload = json.loads((GOLDEN / "MANIFEST.json").read_text())
    for name, source, codec, params, coder in golden_presets():
        if codec in codecs:
            entry = _entry(name, source, codec, params, coder)
            if cpu_signature() != payload["cpu_signature"]:
                entry["cpu_signature"] = cpu_signature()
            payload["files"][name] = entry
    (GOLDEN / "MANIFEST.json").write_text(json.dumps(payload, indent=2) + "\n")


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    previous = json.loads((GOLDEN / "MANIFEST.json").read_text()) if (GOLDEN / "MANIFEST.json").exists() else {}
    for old in GOLDEN.glob("*.rcz"):
        old.unlink()
    for old in GOLDEN.glob("*.decoded.png"):
        old.unlink()
    manifest = {}
    for name, source, codec, params, coder in golden_presets():
        manifest[name] = _entry(name, source, codec, params, coder)
    payload = {"cpu_signature": cpu_signature(), "files": manifest, "retired": previous.get("retired", {})}
    (GOLDEN / "MANIFEST.json").write_text(json.dumps(payload, indent=2) + "\n")


def retire(tag: str, codecs: list[str]) -> None:
    """Keep the current golden files of `codecs` as files that must still decode: all of a codec's qualities when
    it has at most three golden files, else qualities 1, 4 and 8."""
    import shutil

    payload = json.loads((GOLDEN / "MANIFEST.json").read_text())
    folder = GOLDEN / "retired" / tag
    folder.mkdir(parents=True, exist_ok=True)
    kept = {}
    for codec in codecs:
        qualities = {e["params"].get("quality") for e in payload["files"].values() if e["codec"] == codec}
        kept[codec] = qualities if len(qualities) <= 3 else qualities & {1, 4, 8}
    for name, entry in payload["files"].items():
        if entry["codec"] in codecs and entry["params"].get("quality") in kept[entry["codec"]]:
            shutil.copyfile(GOLDEN / name, folder / name)
            retired = {**entry, "cpu_signature": payload["cpu_signature"]}  # where its lossy pixels were recorded
            if "decoded_png" in entry:
                shutil.copyfile(GOLDEN / entry["decoded_png"], folder / entry["decoded_png"])
                retired["decoded_png"] = f"retired/{tag}/{entry['decoded_png']}"
            payload.setdefault("retired", {})[f"retired/{tag}/{name}"] = retired
            print(f"kept {name} as retired/{tag}/{name}")
    (GOLDEN / "MANIFEST.json").write_text(json.dumps(payload, indent=2) + "\n")


JPEG_FIXTURES = ("kodim23_crop.q75.jpg", "kodim23_crop.q90.prog444.jpg")


def make_jpeg() -> None:
    """The `jpeg` golden files: each JPEG fixture through the default path (it must come back byte for byte)."""
    folder = GOLDEN / "jpeg"
    folder.mkdir(exist_ok=True)
    for name in JPEG_FIXTURES:
        data = rcodec.encode(SAMPLES / name)
        path = folder / f"{name}.rcz"
        path.write_bytes(data)
        print(f"{path.name}: {len(data)} bytes")


def make_inr_vc() -> None:
    """The `inr-vc` golden file: a 64x80 crop of the sample photo, fixed refinement steps (reproducible)."""
    import numpy as np

    image = np.asarray(Image.open(SAMPLES / "kodim23_crop.png").convert("RGB"))[:64, :80].copy()
    data = rcodec.encode(image, codec="inr-vc", step=8, steps=2, time_budget=1000.0)
    path = GOLDEN / "inr" / "kodim23_crop_64x80.inr-vc.rcz"
    path.write_bytes(data)
    # The decoded pixels, to compare within one level on any machine (float kernels may differ in the last bit).
    media, _ = decode_bytes(data)
    Image.fromarray(media.data).save(path.with_suffix(".decoded.png"))
    print(f"{path.name}: {len(data)} bytes")


def make_inr_vc_audio() -> None:
    """The `inr-vc` audio golden file: the stereo chirp of tests/test_inr_vc_audio.py, fixed refinement steps."""
    import numpy as np
    from test_inr_vc_audio import _audio

    data = rcodec.encode(_audio(), codec="inr-vc", step=10, steps=2, time_budget=1000.0)
    path = GOLDEN / "inr" / "chirp_stereo_16k.inr-vc.rcz"
    path.write_bytes(data)
    # The decoded samples, to compare within a tolerance on any machine (float kernels may differ in the last bit).
    media, _ = decode_bytes(data)
    np.save(path.with_suffix(".decoded.npy"), media.data.samples)
    print(f"{path.name}: {len(data)} bytes")


def make_video() -> None:
    import numpy as np

    from rcodec.pipeline import encode_media

    folder = GOLDEN / "video"
    folder.mkdir(exist_ok=True)
    for name, (codec, params) in VIDEO_GOLDEN.items():
        data = encode_media(golden_clip(), codec, **params)
        (folder / name).write_bytes(data)
        if not rcodec.get_registry().codec(codec).lossless:
            # The decoded frames, to compare within one level on any machine (float kernels may differ in the
            # last bit).
            np.save(folder / name.replace(".rcz", ".decoded.npy"), decode_bytes(data)[0].data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    if sys.argv[1:] == ["jpeg"]:
        make_jpeg()
    elif sys.argv[1:] == ["video"]:
        make_video()
    elif sys.argv[1:] == ["inr-vc"]:
        make_inr_vc()
    elif sys.argv[1:] == ["inr-vc-audio"]:
        make_inr_vc_audio()
    elif sys.argv[1:2] == ["retire"] and len(sys.argv) > 3:
        retire(sys.argv[2], sys.argv[3:])
    elif sys.argv[1:2] == ["only"] and len(sys.argv) > 2:
        only(sys.argv[2:])
    else:
        main()
