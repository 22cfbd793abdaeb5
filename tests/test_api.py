"""The public Python API: rcodec.encode / decode / info / codecs on every accepted input type."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

import rcodec
from conftest import KODAK, WAVS


def test_import_is_light():
    code = "import sys, rcodec; assert not {'torch', 'compressai', 'numpy'} & set(sys.modules), sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_codecs_lists_builtin():
    assert "lossless" in rcodec.codecs()


@pytest.mark.parametrize("shape", [(7, 9), (7, 9, 3), (7, 9, 4), (1, 1, 3), (1, 50), (33, 1)])
def test_array_round_trip(shape):
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, size=shape, dtype=np.uint8)
    assert np.array_equal(rcodec.decode(rcodec.encode(image)), image)


def test_extreme_colours_round_trip():
    image = np.zeros((6, 6, 3), np.uint8)
    image[::2, :, 0] = 255
    image[:, ::2, 2] = 255
    assert np.array_equal(rcodec.decode(rcodec.encode(image)), image)


def test_pil_path_and_bytes_inputs_agree(small_image):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(small_image).save(buf, format="PNG")
    from_pil = rcodec.decode(rcodec.encode(Image.fromarray(small_image)))
    from_bytes = rcodec.decode(rcodec.encode(buf.getvalue()))
    assert np.array_equal(from_pil, small_image) and np.array_equal(from_bytes, small_image)
    assert np.array_equal(rcodec.decode(rcodec.encode(str(KODAK[1]))), np.asarray(Image.open(KODAK[1])))


def test_audio_round_trip(small_audio):
    out = rcodec.decode(rcodec.encode(small_audio))
    assert isinstance(out, rcodec.Audio) and out == small_audio


def test_info_fields(small_image):
    data = rcodec.encode(small_image, codec="lossless")
    facts = rcodec.info(data)
    for key in ("codec", "codec_version", "coder", "media", "shape", "compressed_bytes", "bpp"):
        assert key in facts
    assert facts["codec"] == "lossless" and facts["media"] == "image" and facts["shape"] == [24, 32, 3]
    assert facts["compressed_bytes"] == len(data)
    assert facts["bpp"] == pytest.approx(8 * len(data) / (24 * 32))


def test_audio_info(small_audio):
    facts = rcodec.info(rcodec.encode(small_audio))
    assert facts["media"] == "audio" and facts["sample_rate"] == small_audio.sample_rate and facts["kbps"] > 0


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.uint8),
                                 np.zeros((0, 4), np.uint8), b"not an image at all", 3.5])
def test_bad_inputs_raise_media_error(bad):
    with pytest.raises(rcodec.MediaError):
        rcodec.encode(bad)


def test_unknown_codec_and_parameter():
    with pytest.raises(rcodec.UnsupportedError, match="unknown codec"):
        rcodec.encode(np.zeros((2, 2), np.uint8), codec="nope")
    with pytest.raises(rcodec.UnsupportedError, match="no parameter"):
        rcodec.encode(np.zeros((2, 2), np.uint8), codec="lossless", quality=3)


def test_file_from_unknown_codec_is_refused():
    from rcodec import container

    data = rcodec.encode(np.zeros((2, 2), np.uint8))
    c = container.read(data)
    c.header.codec = "from-the-future"
    with pytest.raises(rcodec.UnsupportedError, match="unknown codec"):
        rcodec.decode(container.write(c))


def test_float_audio_off_the_pcm_grid_is_refused():
    with pytest.raises(rcodec.MediaError, match="PCM"):
        rcodec.encode(rcodec.Audio(np.full((10, 1), 0.1234567, np.float32), 8000))


def test_every_coder_round_trips(small_image):
    for coder in rcodec.get_registry().coders():
        data = rcodec.encode(small_image, coder=coder)
        assert rcodec.info(data)["coder"] == coder
        assert np.array_equal(rcodec.decode(data), small_image)


def test_wavs_exist():
    assert WAVS, "audio test data missing"
