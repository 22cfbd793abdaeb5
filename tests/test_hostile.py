"""Hostile files: each case of the robustness report, decoded in a child process under CPU, wall-clock and memory
limits, so that a regression fails here instead of hanging CI. Forged headers have every CRC recomputed."""

from __future__ import annotations

import numpy as np
import pytest

import rcodec
from fuzz.forge import fix_crcs, reheader
from fuzz.sandbox import decode_and_check, run_limited, single_threaded_torch
from rcodec import container

RNG = np.random.default_rng(27)
LIMITS = {"cpu_s": 20, "wall_s": 60, "mem_mib": 1024}


@pytest.fixture(autouse=True, scope="module")
def _forkable_torch():
    single_threaded_torch()


def _refused(data: bytes, **limits):
    outcome = run_limited(decode_and_check, data, **(LIMITS | limits))
    assert outcome.status == "refused", outcome
    return outcome


def test_ans_lossless_file_claiming_ten_million_rows_is_refused_fast():
    data = rcodec.encode(RNG.integers(0, 256, (64, 2), dtype=np.uint8), coder="ans")
    outcome = _refused(reheader(data, shape=(10_000_000, 2)))
    # version 2 refuses the stripe sizes, version 1 the payload; either way before any work
    assert outcome.seconds < 10 and ("bytes of coded data" in outcome.message or "stripe" in outcome.message)


def test_gray_file_claiming_a_row_of_2_to_28_pixels_is_refused_without_allocating():
    data = rcodec.encode(RNG.integers(0, 256, (16, 16), dtype=np.uint8))
    outcome = _refused(reheader(data, shape=(1, 1 << 28)), mem_mib=512)
    assert outcome.error != "ChecksumError" and outcome.added_mib < 256


def test_audio_claiming_a_million_channels_is_refused():
    data = rcodec.encode(rcodec.Audio(np.zeros((1, 2), np.float32), 16000))
    outcome = _refused(reheader(data, shape=(1, 1_000_000)), mem_mib=512)
    assert "channel" in outcome.message


@pytest.fixture(scope="module")
def speech() -> bytes:
    samples = (RNG.integers(-2000, 2000, (800, 1)) / 32768).astype(np.float32)
    return rcodec.encode(rcodec.Audio(samples, 16000))


@pytest.mark.parametrize("field,value", [("sample_rate", 22050), ("original_format", "OGG:VORBIS"),
                                         ("original_format", "WAV:ULAW"), ("dtype", "uint8")])
def test_audio_header_edits_are_refused(speech, field, value):
    _refused(reheader(speech, **{field: value}))


@pytest.mark.parametrize("value", ["JPEG", "GIF", "TIFF"])
def test_original_format_edit_of_an_image_is_refused(value):
    data = rcodec.encode(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    _refused(reheader(data, original_format=value))


def test_lossy_shape_edit_within_the_padded_latent_grid_is_refused():
    data = rcodec.encode(RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8), codec="factorized", quality=1)
    outcome = _refused(reheader(data, shape=(30, 31, 3)), mem_mib=4096)
    assert "symbols differ" in outcome.message


def test_bool_passed_as_quality_is_refused():
    data = rcodec.encode(RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8), codec="factorized", quality=1)
    params = container.read(data).header.params | {"quality": True}
    outcome = _refused(reheader(data, params=params), mem_mib=4096)
    assert "quality must be int" in outcome.message


def test_absurd_token_count_is_refused_by_the_declaration():
    codec = rcodec.get_registry().codec("alit")
    with pytest.raises(rcodec.FormatError, match="tokens"):
        codec.check_header_params({"gray": False, "tokens": 1 << 62})


def test_unknown_parameters_are_refused():
    data = rcodec.encode(RNG.integers(0, 256, (8, 8), dtype=np.uint8))
    params = {f"p{i:03d}": b"x" * 4096 for i in range(60)}
    outcome = _refused(reheader(data, params=params))
    assert "unknown parameter" in outcome.message


def test_minor_version_255_is_refused():
    data = bytearray(rcodec.encode(RNG.integers(0, 256, (8, 8), dtype=np.uint8)))
    data[9] = 255
    outcome = _refused(fix_crcs(bytes(data)))
    assert "newer" in outcome.message


def test_a_damaged_output_hash_byte_is_caught_by_the_footer_checksum():
    data = bytearray(rcodec.encode(RNG.integers(0, 256, (8, 8), dtype=np.uint8)))
    data[-len(container.END_MAGIC) - 1] ^= 1  # last byte of the output hash
    with pytest.raises(rcodec.ChecksumError, match="payload checksum"):
        container.read(bytes(data))


def test_shapes_no_encoder_writes_are_refused_and_info_survives_them():
    data = rcodec.encode(RNG.integers(0, 256, (8, 8), dtype=np.uint8))
    for shape in [(), (64,), (8, 8, 2), (8, 0)]:
        forged = reheader(data, shape=shape)
        rcodec.info(forged)
        _refused(forged)


def test_old_files_keep_decoding_under_the_old_rules():
    from golden_common import GOLDEN

    old = sorted(p for p in GOLDEN.rglob("*.lossless.*.rcz") if p.read_bytes()[9] == 0)  # minor version 0
    assert old, "no container 1.0 golden file left to prove old files decode"
    for path in old:
        outcome = run_limited(decode_and_check, path.read_bytes(), **LIMITS)
        assert outcome.status == "decoded", (path.name, outcome)


def test_bool_is_not_taken_for_an_integer_option():
    with pytest.raises(rcodec.UnsupportedError, match="quality must be int"):
        rcodec.get_registry().codec("hyperprior").resolve_params({"quality": True})
