"""The jpeg codec: JPEG files come back byte for byte, on the default path, and hostile input never crashes.

Test JPEGs are made here by Pillow from a sample photo, with every option that changes the file's structure.
"""

from __future__ import annotations

import io
import random
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import rcodec
from golden_common import GOLDEN, SAMPLES
from rcodec import FormatError
from rcodec.jpegfile import jpeg_media
from rcodec.plugins.jpeg import payload


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """An odd-sized crop (partial MCUs on both edges) of a sample photo."""
    with Image.open(SAMPLES / "kodim23_crop.png") as img:
        return img.convert("RGB").crop((3, 5, 3 + 181, 5 + 101))


JPEG_FIXTURES = ("kodim23_crop.q75.jpg", "kodim23_crop.q90.prog444.jpg")


@pytest.mark.parametrize("name", JPEG_FIXTURES)
def test_golden_files_decode_to_the_fixture_and_the_encoder_reproduces_them(name):
    original = (SAMPLES / name).read_bytes()
    golden = (GOLDEN / "jpeg" / f"{name}.rcz").read_bytes()
    assert rcodec.decode(golden) == original
    assert rcodec.encode(SAMPLES / name) == golden


def jpeg(img: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **options)
    return buf.getvalue()


def roundtrip(data: bytes) -> tuple[bytes, dict]:
    rcz = rcodec.encode(data)
    facts = rcodec.info(rcz)
    assert facts["codec"] == "jpeg" and facts["media"] == "jpeg"
    assert rcodec.decode(rcz) == data
    return rcz, facts


OPTIONS = {
    "q75-420": {"quality": 75},
    "q90-444": {"quality": 90, "subsampling": "4:4:4"},
    "q50-422": {"quality": 50, "subsampling": "4:2:2"},
    "q98-optimized": {"quality": 98, "optimize": True},
    "progressive-420": {"quality": 80, "progressive": True},
    "progressive-444": {"quality": 95, "progressive": True, "subsampling": "4:4:4"},
    "restart-blocks": {"quality": 85, "restart_marker_blocks": 3},
    "restart-rows-progressive": {"quality": 85, "restart_marker_rows": 1, "progressive": True},
    "custom-tables": {"qtables": [[(i * 7) % 50 + 1 for i in range(64)], [3] * 64]},
    "q100": {"quality": 100, "subsampling": "4:4:4"},
    "exif-icc-comment": {"quality": 85, "exif": b"Exif\x00\x00" + bytes(range(200)), "icc_profile": bytes(3000),
                         "comment": b"made for a test"},
}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_pillow_jpegs_come_back_exactly_and_smaller(photo, name):
    data = jpeg(photo, **OPTIONS[name])
    rcz, facts = roundtrip(data)
    assert facts["params"]["modelled"] is True
    assert len(rcz) < len(data)


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grayscale_and_cmyk(photo, mode):
    data = jpeg(photo.convert(mode), quality=85)
    _, facts = roundtrip(data)
    assert facts["params"]["modelled"] is True


def test_data_after_eoi_and_zero_padding_are_kept(photo):
    data = jpeg(photo, quality=80) + b"trailing bytes\x00\xff\xd9"
    assert roundtrip(data)[1]["params"]["modelled"] is True
    # The last bit before EOI cleared: a padding bit of 0 (a non-libjpeg encoder) or a changed coefficient; the
    # file comes back exactly either way, modelled or stored.
    base = bytearray(jpeg(photo, quality=80))
    base[-3] &= 0xFE
    body, _ = payload.pack(bytes(base))
    assert payload.unpack(body, len(base)) == bytes(base)


def test_unmodelled_files_are_stored_exactly(photo):
    data = jpeg(photo, quality=80)
    for damaged in (data[: len(data) // 2], data[:-2], data.replace(b"\xff\xc0", b"\xff\xc9", 1)):
        body, facts = payload.pack(damaged)
        assert facts["modelled"] is False and facts["reason"]
        assert payload.unpack(body, len(damaged)) == damaged
        rcz = rcodec.encode(jpeg_media(damaged), codec="jpeg")
        assert rcodec.decode(rcz) == damaged


def test_other_codecs_still_get_pixels(photo):
    data = jpeg(photo, quality=90)
    pixels = rcodec.decode(rcodec.encode(data, codec="lossless"))
    assert isinstance(pixels, np.ndarray) and pixels.shape == (101, 181, 3)


def test_cli_default_path(tmp_path, photo):
    data = jpeg(photo, quality=85, progressive=True)
    src = tmp_path / "photo.jpg"
    src.write_bytes(data)
    cli = [sys.executable, "-m", "rcodec"]
    subprocess.run([*cli, "compress", str(src)], check=True)
    src.rename(tmp_path / "original.jpg")
    subprocess.run([*cli, "test", str(tmp_path / "photo.jpg.rcz")], check=True)
    subprocess.run([*cli, "decompress", str(tmp_path / "photo.jpg.rcz")], check=True)
    assert src.read_bytes() == data
    subprocess.run([*cli, "decompress", "-o", str(tmp_path / "photo.png"), str(tmp_path / "photo.jpg.rcz")],
                   check=True)
    assert Image.open(tmp_path / "photo.png").size == (181, 101)


def mutations(data: bytes, rng: random.Random, count: int):
    for _ in range(count):
        b = bytearray(data)
        kind = rng.randrange(4)
        if kind == 0:
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif kind == 1:
            del b[rng.randrange(2, len(b)):]
        elif kind == 2:
            i = rng.randrange(len(b))
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            i = rng.randrange(len(b))
            del b[i:i + rng.randint(1, 16)]
        yield bytes(b)


def test_fuzz_parser_never_loses_a_file(photo):
    """Mutated JPEGs (header and scan damage): either modelled or stored, always exact, never a crash."""
    rng = random.Random(1234)
    small = photo.crop((0, 0, 40, 33))
    for source in (jpeg(small, quality=70), jpeg(small, quality=90, progressive=True, restart_marker_blocks=2)):
        for damaged in mutations(source, rng, 150):
            body, _ = payload.pack(damaged)
            assert payload.unpack(body, len(damaged)) == damaged


def test_fuzz_hostile_payloads_fail_cleanly(photo):
    rng = random.Random(99)
    data = jpeg(photo.crop((0, 0, 48, 40)), quality=80, progressive=True)
    body, facts = payload.pack(data)
    assert facts["modelled"]
    for damaged in mutations(body, rng, 200):
        try:
            out = payload.unpack(damaged, len(data))
        except FormatError:
            continue
        assert len(out) == len(data)  # wrong bytes are caught by the container's output hash


def test_damaged_container_is_an_error(photo):
    data = jpeg(photo, quality=80)
    rcz = bytearray(rcodec.encode(data))
    rcz[len(rcz) // 2] ^= 0x10
    with pytest.raises(FormatError):
        rcodec.decode(bytes(rcz))
