"""Golden files: every shipped preset still decodes, bit for bit, what it decoded when it was recorded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import rcodec
from rcodec.media import load_path
from rcodec.pipeline import decode_bytes

GOLDEN = Path(__file__).resolve().parents[1] / "samples" / "golden"
MANIFEST = json.loads((GOLDEN / "MANIFEST.json").read_text())


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_golden_file_decodes_to_the_recorded_output(name):
    entry = MANIFEST[name]
    data = (GOLDEN / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"], "golden file itself changed"
    if entry["coder"] not in rcodec.get_registry().coders():
        pytest.fail(f"coder {entry['coder']} missing: the golden file cannot be checked")
    media, _ = decode_bytes(data)
    assert hashlib.sha256(media.canonical_bytes()).hexdigest() == entry["decoded_sha256"]
    if rcodec.get_registry().codec(entry["codec"]).lossless:
        source = load_path(GOLDEN.parent / entry["source"])
        assert np.array_equal(np.asarray(media.canonical_bytes()), np.asarray(source.canonical_bytes()))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_encoder_reproduces_the_golden_bytes(name):
    entry = MANIFEST[name]
    data = rcodec.encode(GOLDEN.parent / entry["source"], codec=entry["codec"], coder=entry["coder"], **entry["params"])
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
