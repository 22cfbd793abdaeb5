"""Golden files: every shipped preset still decodes what it decoded when it was recorded.

Entropy-decoded symbols must match everywhere (the decoder checks the symbols hash strictly). Decoded output must
match bit for bit for lossless codecs everywhere, and for lossy codecs on machines with the recording machine's
float kernels (same CPU signature); elsewhere lossy pixels may differ by one level, as the format allows.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

import rcodec
from golden_common import GOLDEN, SAMPLES, cpu_signature
from rcodec.media import load_path
from rcodec.pipeline import decode_bytes

MANIFEST = json.loads((GOLDEN / "MANIFEST.json").read_text())
FILES = MANIFEST["files"]
# Files coded with weights that shipped before the current ones: they must still decode, as they did then.
RETIRED = MANIFEST.get("retired", {})
SAME_CPU = MANIFEST["cpu_signature"] == cpu_signature()


def _same_cpu(entry: dict) -> bool:
    """Whether this machine has the float kernels the entry was recorded with (its own, or the manifest's)."""
    return entry["cpu_signature"] == cpu_signature() if "cpu_signature" in entry else SAME_CPU


@pytest.mark.parametrize("name", sorted(FILES) + sorted(RETIRED))
def test_golden_file_decodes_to_the_recorded_output(name):
    entry = FILES.get(name) or RETIRED[name]
    data = (GOLDEN / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"], "golden file itself changed"
    assert entry["coder"] in rcodec.get_registry().coders(), f"coder {entry['coder']} missing"
    media, _ = decode_bytes(data)  # raises if any entropy-decoded symbol differs
    digest = hashlib.sha256(media.canonical_bytes()).hexdigest()
    if rcodec.get_registry().codec(entry["codec"]).lossless:
        assert digest == entry["decoded_sha256"]
        source = load_path(SAMPLES / entry["source"])
        assert media.canonical_bytes() == source.canonical_bytes()
    elif _same_cpu(entry):
        assert digest == entry["decoded_sha256"]
    else:
        recorded = np.asarray(Image.open(GOLDEN / entry["decoded_png"])).astype(np.int16)
        assert np.abs(media.data.astype(np.int16) - recorded).max() <= 1


@pytest.mark.parametrize("name", sorted(FILES))
def test_encoder_reproduces_the_golden_bytes(name):
    entry = FILES[name]
    data = rcodec.encode(SAMPLES / entry["source"], codec=entry["codec"], coder=entry["coder"], **entry["params"])
    if rcodec.get_registry().codec(entry["codec"]).lossless or _same_cpu(entry):
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    else:  # another machine's analysis transform may round a latent differently: the file must still be sound
        assert abs(len(data) - len((GOLDEN / name).read_bytes())) <= 0.01 * len(data)
        rcodec.decode(data)
