"""The version-2 lossless image coder (context mixing, plugins/lossless/cm_image.cpp): exact on every image kind and
depth, the same bits on one or two threads, and damaged or hostile streams refused with rcodec errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import rcodec
from rcodec import container
from rcodec.media import to_file_bytes
from rcodec.pipeline import decode_bytes
from rcodec.plugins.lossless import _cmimage, image_cm


def _photo_like(shape: tuple[int, ...], dtype, seed: int = 0) -> np.ndarray:
    """Smooth gradients, edges and noise: exercises every predictor and the large residual classes."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    base = (xx * 3 + yy * 2) % (top + 1) + (xx > w // 2) * (top // 3)
    channels = shape[2] if len(shape) == 3 else 1
    planes = [base + rng.normal(0, top / 40, size=(h, w)) + c * top / 8 for c in range(channels)]
    out = np.clip(np.stack(planes, axis=-1), 0, top).astype(dtype)
    return out.reshape(shape)


SHAPES = [(1, 1), (1, 1, 3), (2, 1, 4), (1, 7), (7, 1, 3), (5, 3), (13, 17, 3), (31, 9, 4), (40, 33)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16], ids=["8bit", "16bit"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_round_trip_is_exact(shape, dtype):
    image = _photo_like(shape, dtype)
    data = rcodec.encode(image)
    decoded = rcodec.decode(data)
    assert decoded.dtype == image.dtype and decoded.shape == image.shape
    assert np.array_equal(decoded, image)
    assert container.read_header(data)[0].codec_version == 2


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16], ids=["8bit", "16bit"])
@pytest.mark.parametrize("kind", ["flat-zero", "flat-max", "noise", "checker"])
def test_extreme_images_round_trip(kind, dtype):
    top = np.iinfo(dtype).max
    rng = np.random.default_rng(1)
    shape = (24, 19, 3)
    image = {
        "flat-zero": np.zeros(shape, dtype),
        "flat-max": np.full(shape, top, dtype),
        "noise": rng.integers(0, top + 1, size=shape, dtype=dtype),
        "checker": ((np.indices(shape).sum(axis=0) % 2) * top).astype(dtype),
    }[kind]
    assert np.array_equal(rcodec.decode(rcodec.encode(image)), image)


def test_flat_image_costs_almost_nothing_and_noise_little_more_than_raw():
    flat = np.full((64, 64, 3), 77, np.uint8)
    assert len(rcodec.encode(flat)) < 600
    noise = np.random.default_rng(2).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    assert len(rcodec.encode(noise)) < noise.nbytes * 1.05 + 600


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("bits", [1, 8, 12, 16])
def test_extension_codes_every_channel_count_and_depth(channels, bits):
    image = (_photo_like((21, 14, channels), np.uint16, seed=channels) >> (16 - bits)).astype(np.uint16)
    streams = _cmimage.encode(image, bits, 1, 1)
    assert np.array_equal(_cmimage.decode(streams, 21, 14, channels, bits, 1), image)


def test_stripes_are_identical_on_one_and_two_threads():
    image = _photo_like((90, 40, 3), np.uint8).astype(np.uint16)
    one = _cmimage.encode(image, 8, 2, 1)
    two = _cmimage.encode(image, 8, 2, 2)
    assert len(one) == 2 and one == two
    for threads in (1, 2):
        assert np.array_equal(_cmimage.decode(two, 90, 40, 3, 8, threads), image)


def test_large_images_use_two_stripes_and_the_stripes_cost_little():
    image = _photo_like((512, 520), np.uint8, seed=3)
    assert image.size >= image_cm.STRIPE_PIXELS
    data = rcodec.encode(image)
    assert len(container.read(data).streams) == 2
    assert np.array_equal(rcodec.decode(data), image)
    whole = sum(len(s) for s in _cmimage.encode(image[..., None].astype(np.uint16), 8, 1, 1))
    halves = sum(len(s) for s in _cmimage.encode(image[..., None].astype(np.uint16), 8, 2, 2))
    assert halves <= whole * 1.02 + 64


def test_sixteen_bit_png_round_trips_through_files(tmp_path):
    image = _photo_like((20, 30), np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(image).save(path)
    data = rcodec.encode(path)
    assert np.array_equal(rcodec.decode(data), image)
    media, _ = decode_bytes(data)
    restored = to_file_bytes(media, ".png")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(restored))), image)


def test_sixteen_bit_images_are_refused_by_eight_bit_codecs():
    with pytest.raises(rcodec.MediaError, match="uint16"):
        rcodec.encode(np.zeros((8, 8, 3), np.uint16), codec="factorized", quality=1)


def _sample_file() -> bytes:
    return rcodec.encode(_photo_like((30, 40, 3), np.uint8))


def test_truncated_files_are_refused():
    data = _sample_file()
    for cut in (len(data) - 1, len(data) - 50, len(data) // 2, 40):
        with pytest.raises(rcodec.RcodecError):
            rcodec.decode(data[:cut])


def test_damaged_payload_is_refused():
    data = _sample_file()
    parsed = container.read(data)
    stream = bytearray(parsed.streams[0])
    for i in range(8, len(stream), 97):
        stream[i] ^= 0x5A
    parsed.streams[0] = bytes(stream)
    with pytest.raises(rcodec.RcodecError):
        rcodec.decode(container.write(parsed))


@pytest.mark.parametrize("shape", [(8000, 8000, 3), (12000, 12000), (4000, 6000, 4)])
def test_header_claiming_more_samples_than_the_stream_holds_is_refused(shape):
    parsed = container.read(_sample_file())
    parsed.header.shape = shape
    stripes = image_cm.stripes_for(*shape[:2])
    parsed.header.params = {"stripe_bytes": parsed.header.params["stripe_bytes"] * stripes}
    parsed.streams = parsed.streams * stripes
    with pytest.raises(rcodec.FormatError, match="too short|stripe"):
        rcodec.decode(container.write(parsed))


def test_header_claiming_more_bytes_than_the_stream_holds_is_refused():
    parsed = container.read(_sample_file())
    parsed.header.params = {"stripe_bytes": np.array([1 << 40], dtype="<u8").tobytes()}
    with pytest.raises(rcodec.FormatError, match="claims"):
        rcodec.decode(container.write(parsed))


def test_extension_refuses_bad_arguments_without_crashing():
    with pytest.raises(ValueError):
        _cmimage.decode([b"\0" * 8], 1 << 20, 1 << 20, 3, 8, 1)  # far more samples than 8 bytes can hold
    with pytest.raises(ValueError):
        _cmimage.decode([b""], 0, 5, 1, 8, 1)
    with pytest.raises(ValueError):
        _cmimage.encode(np.full((2, 2, 1), 300, np.uint16), 8, 1, 1)  # sample above the bit depth
    with pytest.raises(ValueError):
        _cmimage.encode(np.zeros((2, 2, 5), np.uint16), 8, 1, 1)
    garbage = np.random.default_rng(4).integers(0, 256, size=400, dtype=np.uint8).tobytes()
    try:
        out = _cmimage.decode([garbage], 10, 10, 3, 8, 1)
    except ValueError:
        pass  # refused: the usual outcome
    else:
        assert out.shape == (10, 10, 3)  # random bytes may decode to some image; never a crash


def test_bench_puts_jpeg_xl_and_webp_beside_png_or_leaves_them_out(tmp_path, monkeypatch):
    from rcodec.plugins.lossless import bench

    path = tmp_path / "small.png"
    Image.fromarray(_photo_like((24, 32, 3), np.uint8)).save(path)
    result = bench.run([path])
    row, summary = result["files"][0], result["summary"]["image"]
    assert row["rcz"] > 0 and summary["rcz_bpp"] > 0 and "png_file_bpp" in summary
    if bench._imagecodecs() is not None:
        assert row["jxl_lossless"] > 0 and "saving_vs_jxl_lossless_pct" in summary
    monkeypatch.setattr(bench, "_imagecodecs", lambda: None)
    result = bench.run([path])
    assert "jxl_lossless" not in result["files"][0] and "jxl_lossless_bytes" not in result["summary"]["image"]
