"""The `nirvana` video codec on a tiny clip: round trip, determinism, adaptive width, hostile headers."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import rcodec
from rcodec import container
from rcodec.media import Media
from rcodec.pipeline import decode_bytes, encode_media

FAST = {"steps": 300, "group": 2, "patch": 4, "depth": 2}


@pytest.fixture(scope="module")
def clip(small_image) -> Media:
    """Five 16x24 frames: a real crop panning, so groups differ and the last group is partial."""
    frames = np.stack([small_image[4 + t : 20 + t, 2 * t : 24 + 2 * t] for t in range(5)])
    media = Media("video", np.ascontiguousarray(frames))
    media.extra["frame_rate"] = Fraction(25)
    return media


@pytest.fixture(scope="module")
def coded(clip) -> bytes:
    return encode_media(clip, "nirvana", quality=3, **FAST)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(float) - b) ** 2)))


def test_round_trip_matches_the_encoders_reconstruction(clip, coded):
    media, report = decode_bytes(coded)
    assert media.shape == clip.shape and media.extra["frame_rate"] == 25
    assert report.output_hash_matches  # the decoder computes exactly what the encoder predicted
    flat = np.broadcast_to(clip.data.mean(axis=(0, 1, 2)), clip.shape)
    assert _psnr(media.data, clip.data) > _psnr(flat, clip.data) + 3  # it learned more than the mean colour
    facts = rcodec.info(coded)
    assert facts["codec"] == "nirvana" and facts["params"]["group"] == 2


def test_decoding_is_identical_on_one_and_two_threads(coded):
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = decode_bytes(coded)[0].data
        torch.set_num_threads(1)
        one = decode_bytes(coded)[0].data
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(one, two)


def test_widened_groups_decode(clip, monkeypatch):
    """Force the capacity adaptation: every group after the first is fitted again with wider layers."""
    from rcodec.plugins.nirvana import codec

    monkeypatch.setattr(codec, "ADAPT_DB", -1000.0)
    data = encode_media(clip, "nirvana", quality=1, **FAST)
    media, report = decode_bytes(data)
    assert report.output_hash_matches and media.shape == clip.shape


def test_higher_quality_costs_more_bytes(clip, coded):
    assert len(encode_media(clip, "nirvana", quality=1, **FAST)) < len(coded)


def test_hostile_headers_and_wrong_media_are_refused(coded, small_image):
    c = container.read(coded)
    for key, value in (("width", 12), ("patch", 3), ("group", 0), ("latents", 1 << 20)):
        c.header.params[key] = value
        with pytest.raises(rcodec.FormatError, match="nirvana"):  # refused before any network runs
            decode_bytes(container.write(c))
        c = container.read(coded)
    with pytest.raises(rcodec.MediaError):
        rcodec.encode(small_image, codec="nirvana")


def test_cli_compress_with_effort_and_decompress(clip, tmp_path):
    from click.testing import CliRunner

    from rcodec.cli import cli
    from rcodec.media import load_path, to_file_bytes

    source = tmp_path / "clip.mkv"
    source.write_bytes(to_file_bytes(clip, ".mkv"))
    runner = CliRunner()
    args = ["compress", "--codec", "nirvana", "-q", "1", "--effort", "1", "-p", "steps=30", "-p", "group=2",
            "-p", "patch=4", str(source)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    source.unlink()
    assert runner.invoke(cli, ["decompress", str(source) + ".rcz"]).exit_code == 0
    out = load_path(source)
    assert out.shape == clip.shape and out.extra["frame_rate"] == 25
    bad = runner.invoke(cli, ["compress", "--codec", "nirvana", "--effort", "9", "-f", str(source)])
    assert bad.exit_code == 1 and "effort" in bad.output
