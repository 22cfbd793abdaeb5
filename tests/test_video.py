"""Video as a media kind: PyAV reading and writing, the frame rate in the header, lossless round trips."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import rcodec
from fuzz.forge import reheader
from golden_common import VIDEO_GOLDEN, golden_clip
from rcodec import limits, videofile
from rcodec.cli import cli
from rcodec.media import Media, load_bytes, load_path, to_file_bytes
from rcodec.pipeline import decode_bytes, encode_media

GOLDEN_VIDEO = Path(__file__).resolve().parents[1] / "samples" / "golden" / "video"

RATE = Fraction(30000, 1001)


@pytest.fixture(scope="module")
def frames(small_image) -> np.ndarray:
    """Four 24x32 frames of a real crop: a square moving over a still background, then a scene cut."""
    out = []
    for t in range(3):
        frame = small_image.copy()
        frame[4:10, 3 + 4 * t : 9 + 4 * t] = (250, 40, 40)
        out.append(frame)
    out.append(np.ascontiguousarray(small_image[::-1, ::-1]))
    return np.stack(out)


def _media(frames: np.ndarray) -> Media:
    media = Media("video", frames)
    media.extra[videofile.FRAME_RATE_KEY] = RATE
    return media


@pytest.mark.parametrize("suffix,exact", [(".mkv", True), (".mp4", False), (".y4m", False), (".webm", False)])
def test_write_then_read_each_container(frames, suffix, exact):
    data = to_file_bytes(_media(frames), suffix)
    back = load_bytes(data, "clip" + suffix)
    assert back.kind == "video" and back.shape == frames.shape and back.extra["frame_rate"] == RATE
    assert back.original_format == videofile.VIDEO_SUFFIXES[suffix]
    error = np.abs(back.data.astype(int) - frames).mean()
    assert error == 0 if exact else 0 < error < 12


def test_lossless_round_trip_keeps_frames_rate_and_container(frames, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(to_file_bytes(_media(frames), ".mp4"))
    source = load_path(clip)
    data = rcodec.encode(clip)
    facts = rcodec.info(data)
    assert facts["media"] == "video" and facts["original_format"] == "MP4"
    assert facts["params"]["frame_rate"] == "30000/1001" and facts["kbps"] > 0
    media, report = decode_bytes(data)
    assert np.array_equal(media.data, source.data) and report.output_hash_matches
    assert media.extra["frame_rate"] == RATE


def test_lossless_codes_frames_as_intra_and_inter(frames):
    from rcodec.plugins.lossless import video

    assert video._prefers_inter(frames[1], frames[0]) and not video._prefers_inter(frames[3], frames[2])
    media, _ = decode_bytes(encode_media(_media(frames)))
    assert np.array_equal(media.data, frames)


def test_cli_writes_exact_mkv_by_default_and_mp4_on_request(frames, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(to_file_bytes(_media(frames), ".mp4"))
    source = load_path(clip).data
    runner = CliRunner()
    assert runner.invoke(cli, ["compress", str(clip)]).exit_code == 0
    result = runner.invoke(cli, ["decompress", str(clip) + ".rcz"])
    assert result.exit_code == 0, result.output
    exact = load_path(tmp_path / "clip.mkv")  # the exact format replaces the lossy one, as x.jpg.rcz -> x.png
    assert np.array_equal(exact.data, source) and exact.extra["frame_rate"] == RATE
    clip.unlink()
    assert runner.invoke(cli, ["decompress", "--format", "mp4", str(clip) + ".rcz"]).exit_code == 0
    again = load_path(clip)
    assert again.original_format == "MP4" and again.shape == source.shape
    info = runner.invoke(cli, ["info", str(clip) + ".rcz"])
    assert "video 4x24x32x3" in info.output and "kbps" in info.output


def test_long_clip_is_refused_before_decoding(frames, monkeypatch):
    data = to_file_bytes(_media(frames), ".mkv")
    monkeypatch.setattr(limits, "MAX_VIDEO_BYTES", frames[0].nbytes * 2)
    with pytest.raises(rcodec.MediaError, match="shorter clips"):
        load_bytes(data)


def test_damaged_and_odd_inputs_give_clear_errors(frames):
    data = to_file_bytes(_media(frames), ".mkv")
    with pytest.raises(rcodec.MediaError):
        load_bytes(data[:200] + bytes(len(data) - 200))
    with pytest.raises(rcodec.MediaError, match="even frame sizes"):
        to_file_bytes(_media(frames[:, :23]), ".mp4")
    with pytest.raises(rcodec.MediaError, match="cannot write video"):
        to_file_bytes(_media(frames), ".gif")
    with pytest.raises(rcodec.MediaError, match="frame rate"):
        videofile.parse_frame_rate("0/1")
    media = _media(frames)
    media.extra["frame_rate"] = "fast"
    with pytest.raises(rcodec.MediaError, match="frame rate"):
        encode_media(media)


@pytest.mark.parametrize("changes,match", [
    ({"params": {"frame_rate": "0/1"}}, "frame rate"),
    ({"params": {"frame_rate": "1" * 40}}, "frame rate"),
    ({"params": {}}, "frame rate"),
    ({"params": {"frame_rate": "30", "quality": 3}}, "unknown parameter"),
    ({"shape": (4, 24, 32, 4)}, "invalid video header"),
    ({"shape": (1 << 16 + 1, 24, 32, 3)}, "shorter clips"),
    ({"dtype": "uint16"}, "invalid video header"),
])
def test_forged_video_headers_are_refused_before_decoding(frames, changes, match):
    data = encode_media(_media(frames[:2]))
    with pytest.raises(rcodec.RcodecError, match=match):
        decode_bytes(reheader(data, **changes))


def test_golden_video_files_still_decode():
    """Files written by earlier versions: lossless exactly, nirvana within one level (float kernels)."""
    source = golden_clip().data
    for name, (codec, _) in VIDEO_GOLDEN.items():
        media, report = decode_bytes((GOLDEN_VIDEO / name).read_bytes())
        assert media.extra["frame_rate"] == 25 and media.original_format == "MP4"
        if codec == "lossless":
            assert np.array_equal(media.data, source) and report.output_hash_matches
        else:
            expected = np.load(GOLDEN_VIDEO / name.replace(".rcz", ".decoded.npy"))
            assert np.abs(media.data.astype(int) - expected).max() <= 1
