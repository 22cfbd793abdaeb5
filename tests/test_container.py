"""The .rcz container: round trip, validation, and hostile input (every flipped byte, every truncation)."""

from __future__ import annotations

import numpy as np
import pytest

import rcodec
from rcodec import container
from rcodec.container import Container, Header


def _header(**changes) -> Header:
    h = Header("lossless", 1, "ans", 1, "image", (4, 5, 3), "uint8", 0, "PNG", 123,
               bytes(range(32)), {"quality": 3, "lam": 0.5, "name": "x", "blob": b"\x00\xff", "flag": True})
    for k, v in changes.items():
        setattr(h, k, v)
    return h


def test_round_trip_keeps_every_field():
    header = _header(layout={"mode": "P", "palette": b"\x01\x02\x03", "transparency": 0})
    c = Container(header, [b"abc", b"", b"\x00" * 70000], b"s" * 16, b"o" * 16, [(b"meta", b"hello")])
    back = container.read(container.write(c))
    assert back.header == c.header
    assert back.streams == c.streams and back.chunks == c.chunks
    assert back.bound and back.symbols_hash == back.expected_symbols(c.symbols_hash)
    assert back.output_hash == back.expected_output(c.output_hash)


def test_hashes_are_bound_to_the_header():
    a = container.read(container.write(Container(_header(), [b"x"], b"s" * 16, b"o" * 16)))
    b = container.read(container.write(Container(_header(sample_rate=22050), [b"x"], b"s" * 16, b"o" * 16)))
    assert a.symbols_hash != b.symbols_hash and a.output_hash != b.output_hash


def test_newer_minor_version_is_refused():
    data = bytearray(container.write(Container(_header(), [b"x"], b"s" * 16)))
    data[9] = container.MINOR + 1
    with pytest.raises(rcodec.UnsupportedError, match="newer"):
        container.read(bytes(data))


def test_repeated_parameter_is_refused():
    body = container._header_body(_header(params={"a": 1, "b": 2}))
    forged = body.replace(b"\x01b", b"\x01a", 1)
    data = container.MAGIC + container.struct.pack("<BBHI", 1, 1, container.FLAG_BOUND, len(forged)) + forged
    data += container.struct.pack("<I", container.zlib.crc32(data))
    with pytest.raises(rcodec.FormatError, match="repeated"):
        container.read_header(data)


def test_output_hash_is_optional():
    back = container.read(container.write(Container(_header(), [b"x"], b"s" * 16, None)))
    assert back.output_hash is None


def test_wrong_magic():
    with pytest.raises(rcodec.FormatError, match="magic"):
        container.read(b"GIF89a" + b"\0" * 100)


def test_text_mode_damage_is_named():
    data = container.write(Container(_header(), [b"x"], b"s" * 16))
    with pytest.raises(rcodec.FormatError, match="text mode"):
        container.read(data.replace(b"\r\n", b"\n", 1))


def test_future_major_version_is_refused():
    data = bytearray(container.write(Container(_header(), [b"x"], b"s" * 16)))
    data[8] = container.MAJOR + 1
    with pytest.raises(rcodec.UnsupportedError, match="version"):
        container.read(bytes(data))


def test_hostile_lengths_do_not_allocate():
    data = bytearray(container.write(Container(_header(), [b"x" * 10], b"s" * 16)))
    data[12:16] = (0xFFFFFFF0).to_bytes(4, "little")  # header length
    with pytest.raises(rcodec.FormatError):
        container.read(bytes(data))


def test_every_flip_and_truncation_of_the_container_is_caught():
    data = container.write(Container(_header(), [b"payload" * 3, b"\x01\x02"], b"s" * 16, b"o" * 16))
    for i in range(len(data)):  # the footer CRC covers the hashes too (format 1.1)
        damaged = bytearray(data)
        damaged[i] ^= 0x55
        with pytest.raises(rcodec.RcodecError):
            container.read(bytes(damaged))
    for n in range(len(data)):
        with pytest.raises(rcodec.RcodecError):
            container.read(data[:n])


def _assert_decodes_or_refuses(blob: bytes, original) -> None:
    try:
        out = rcodec.decode(blob)
    except rcodec.RcodecError:
        return
    if isinstance(original, np.ndarray):
        assert np.array_equal(out, original)
    else:
        assert out == original


@pytest.mark.parametrize("coder", ["ans", "range", "rans"])
def test_every_flipped_byte_of_a_real_file_decodes_exactly_or_raises(small_image, coder):
    if coder not in {c for c in rcodec.get_registry().coders()}:
        pytest.skip(f"coder {coder} not built")
    image = small_image[:8, :10]
    data = rcodec.encode(image, coder=coder)
    assert np.array_equal(rcodec.decode(data), image)
    for i in range(len(data)):
        for mask in (0x01, 0x80):
            damaged = bytearray(data)
            damaged[i] ^= mask
            _assert_decodes_or_refuses(bytes(damaged), image)
    for n in range(len(data)):
        _assert_decodes_or_refuses(data[:n], image)


def test_every_flipped_byte_of_an_audio_file_decodes_exactly_or_raises(small_audio):
    audio = rcodec.Audio(small_audio.samples[:300], small_audio.sample_rate)
    data = rcodec.encode(audio)
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0x10
        _assert_decodes_or_refuses(bytes(damaged), audio)
    for n in range(0, len(data), 3):
        _assert_decodes_or_refuses(data[:n], audio)


def test_info_needs_no_torch(tmp_path):
    import subprocess
    import sys

    data = rcodec.encode(np.zeros((4, 4, 3), np.uint8))
    path = tmp_path / "x.rcz"
    path.write_bytes(data)
    code = ("import sys, rcodec; d = open(sys.argv[1], 'rb').read(); rcodec.info(d); rcodec.decode(d); "
            "assert 'torch' not in sys.modules and 'compressai' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
