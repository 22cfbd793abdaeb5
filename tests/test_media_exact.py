"""Every input the default (lossless) path accepts comes back exactly, or is refused before any coding work."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
from PIL import Image

import rcodec
from rcodec.media import load_bytes, to_file
from rcodec.pipeline import decode_bytes, encode_media

RNG = np.random.default_rng(7)
PIXELS = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)


def _save(img, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def _round_trip(data: bytes, codec: str | None = None):
    """(source media, decoded media, file bytes decompress writes by default, their suffix)."""
    media = load_bytes(data, "in")
    decoded, _ = decode_bytes(encode_media(media, codec))
    out, suffix, exact = to_file(decoded)
    assert exact
    return media, decoded, out, suffix


def _animation(fmt: str) -> bytes:
    frames = [Image.fromarray(RNG.integers(0, 256, (9, 11, 4), dtype=np.uint8)) for _ in range(3)]
    if fmt == "GIF":
        frames = [f.convert("RGB").quantize(8) for f in frames]
    options = {"lossless": True} if fmt == "WEBP" else {}
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0,
                 **options)


CASES = {
    "rgb png": lambda: _save(Image.fromarray(PIXELS), "PNG"),
    "palette png with transparency": lambda: _save(Image.fromarray(PIXELS).quantize(16), "PNG", transparency=3),
    "palette gif": lambda: _save(Image.fromarray(PIXELS).quantize(16), "GIF"),
    "LA png": lambda: _save(Image.fromarray(PIXELS).convert("LA"), "PNG"),
    "1-bit png": lambda: _save(Image.fromarray(PIXELS).convert("1"), "PNG"),
    "lossless webp": lambda: _save(Image.fromarray(PIXELS), "WEBP", lossless=True),
    "bmp": lambda: _save(Image.fromarray(PIXELS), "BMP"),
    "tiff": lambda: _save(Image.fromarray(PIXELS), "TIFF"),
    "jpeg": lambda: _save(Image.fromarray(PIXELS), "JPEG", quality=70),
    "cmyk jpeg": lambda: _save(Image.fromarray(PIXELS).convert("CMYK"), "JPEG", quality=70),
    "animated gif": lambda: _animation("GIF"),
    "apng": lambda: _animation("PNG"),
    "animated webp": lambda: _animation("WEBP"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_image_comes_back_exactly(case):
    data = CASES[case]()
    source = Image.open(io.BytesIO(data))
    media, decoded, out, suffix = _round_trip(data)
    back = Image.open(io.BytesIO(out))
    if getattr(source, "n_frames", 1) == 1:
        assert back.mode == source.mode
    assert getattr(back, "n_frames", 1) == getattr(source, "n_frames", 1)
    for index in range(getattr(source, "n_frames", 1)):
        source.seek(index)
        back.seek(index)
        assert np.array_equal(np.asarray(source.convert("RGBA")), np.asarray(back.convert("RGBA")))
        assert back.info.get("duration", 0) == pytest.approx(source.info.get("duration", 0), abs=0.5)
    if source.mode == "P":
        assert back.getpalette() == source.getpalette()
        assert back.info.get("transparency") == source.info.get("transparency")
    if source.format == "JPEG":  # the default path recompresses the file itself: the same bytes come back
        assert suffix == ".jpg" and out == data
        return
    expected_suffix = {"GIF": ".gif", "WEBP": ".webp"}
    if getattr(source, "n_frames", 1) > 1:
        assert suffix == ".png"  # APNG
    else:
        assert suffix == expected_suffix.get(source.format, f".{source.format.lower()}".replace(".tiff", ".tif"))


@pytest.mark.parametrize("case", ["jpeg", "cmyk jpeg"])
def test_jpeg_pixels_coded_by_an_image_codec_come_back_as_its_pixels_not_a_second_jpeg(case):
    data = CASES[case]()
    _, _, out, suffix = _round_trip(data, "lossless")
    assert suffix == (".tif" if case == "cmyk jpeg" else ".png")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out))), np.asarray(Image.open(io.BytesIO(data))))


def test_webp_is_read_as_an_image_not_as_riff_audio():
    media = load_bytes(CASES["lossless webp"](), "x.webp")
    assert media.kind == "image" and media.original_format == "WEBP"


def test_16_bit_png_comes_back_at_16_bits_and_an_8_bit_codec_refuses_it():
    import png

    values = RNG.integers(0, 1 << 16, (6, 5, 3), dtype=np.uint16)
    buf = io.BytesIO()
    png.Writer(5, 6, greyscale=False, bitdepth=16).write(buf, values.reshape(6, 15))
    media = load_bytes(buf.getvalue(), "deep.png")
    assert media.dtype == "uint16" and np.array_equal(media.data, values)
    with pytest.raises(rcodec.MediaError, match="uint16"):
        encode_media(media, "hyperprior")
    out, suffix, exact = to_file(media)  # the media layer itself keeps 16 bits
    assert exact and suffix == ".png" and np.array_equal(load_bytes(out).data, values)
    decoded, _ = decode_bytes(encode_media(media))  # the default codec keeps them too
    out, suffix, exact = to_file(decoded)
    assert exact and suffix == ".png" and np.array_equal(load_bytes(out).data, values)


def test_16_bit_gray_tiff_is_read_at_16_bits():
    values = RNG.integers(0, 1 << 16, (6, 5), dtype=np.uint16)
    media = load_bytes(_save(Image.fromarray(values), "TIFF"), "deep.tif")
    assert media.dtype == "uint16" and np.array_equal(media.data, values)


def test_16_bit_colour_tiff_is_read_at_16_bits_and_written_back_as_png():
    import tifffile

    values = RNG.integers(0, 1 << 16, (6, 5, 3), dtype=np.uint16)
    buf = io.BytesIO()
    tifffile.imwrite(buf, values, photometric="rgb", compression="zlib")
    media = load_bytes(buf.getvalue(), "deep.tif")
    assert media.dtype == "uint16" and media.layout["mode"] == "RGB;16" and np.array_equal(media.data, values)
    out, suffix, exact = to_file(media)
    assert exact and suffix == ".png" and np.array_equal(load_bytes(out).data, values)


def _wav(samples, subtype: str, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, samples, 16000, format=fmt, subtype=subtype)
    return buf.getvalue()


def test_float_wav_on_a_16_bit_grid_comes_back_exactly():
    samples = (RNG.integers(-(1 << 15), 1 << 15, (400, 2)) / (1 << 15)).astype(np.float32)
    samples[samples == 0] = 0.0  # PCM has no negative zero
    data = _wav(samples, "FLOAT")
    media, decoded, out, suffix = _round_trip(data)
    assert suffix == ".wav" and out == _wav(samples, "FLOAT")


def test_float_wav_off_the_grid_is_refused_with_the_reason():
    with pytest.raises(rcodec.MediaError, match="grid"):
        encode_media(load_bytes(_wav(RNG.uniform(-0.5, 0.5, (300, 1)).astype(np.float32), "FLOAT")))


def test_32_bit_pcm_is_exact_on_a_24_bit_grid_and_refused_beyond():
    ints = RNG.integers(-(1 << 23), 1 << 23, (300, 1)).astype(np.int32) * 256
    _, _, out, _ = _round_trip(_wav(ints, "PCM_32"))
    assert np.array_equal(soundfile.read(io.BytesIO(out), dtype="int32")[0], ints[:, 0])
    with pytest.raises(rcodec.MediaError, match="24"):
        load_bytes(_wav(ints + 1, "PCM_32"))


def test_ogg_is_refused_by_the_lossless_codec_with_the_reason():
    data = _wav((np.sin(np.arange(8000) / 9) * 0.3).astype(np.float32), "VORBIS", "OGG")
    with pytest.raises(rcodec.MediaError, match="lossy format"):
        encode_media(load_bytes(data, "x.ogg"))


def test_too_many_audio_channels_are_refused_before_reading():
    from rcodec import limits

    data = _wav(np.zeros((2, limits.MAX_AUDIO_CHANNELS + 1), np.float32), "PCM_16")
    with pytest.raises(rcodec.MediaError, match="channel"):
        load_bytes(data)


def test_layout_is_bound_to_the_output_hash():
    """A palette file whose layout is edited (CRCs recomputed) is refused, not decoded into other colours."""
    from rcodec import container

    data = encode_media(load_bytes(CASES["palette gif"]()))
    c = container.read(data)
    palette = bytearray(c.header.layout["palette"])
    palette[0] ^= 0xFF
    c.header.layout["palette"] = bytes(palette)
    forged = container.write(container.Container(c.header, c.streams, b"\0" * 16, b"\0" * 16))
    # keep the original hashes: a forger recomputes CRCs, not the hashes only a decoder can check
    footer = len(data) - container.FOOTER_BYTES
    forged = forged[: len(forged) - container.FOOTER_BYTES] + data[footer:]
    forged = _fix_footer_crc(forged)
    with pytest.raises(rcodec.ChecksumError):
        decode_bytes(forged)


def _fix_footer_crc(data: bytes) -> bytes:
    import struct
    import zlib

    from rcodec import container

    _, _, start = container.read_header(data)
    footer = len(data) - container.FOOTER_BYTES
    hashes = data[footer + 4 : footer + 4 + 2 * container.HASH_BYTES]
    crc = zlib.crc32(hashes, zlib.crc32(data[start:footer]))
    return data[:footer] + struct.pack("<I", crc) + data[footer + 4 :]
