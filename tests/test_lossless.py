"""The lossless codec is exact on every Kodak image and every audio clip, through the API and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from PIL import Image

import rcodec
from conftest import KODAK, WAVS
from rcodec.cli import cli


@pytest.mark.parametrize("path", KODAK, ids=lambda p: p.stem)
def test_kodak_round_trip_api_and_cli(path, tmp_path):
    original = np.asarray(Image.open(path))
    data = rcodec.encode(path)
    assert np.array_equal(rcodec.decode(data), original)
    # CLI: through files, restoring PNG
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    runner = CliRunner()
    assert runner.invoke(cli, ["compress", "--rm", str(copy)]).exit_code == 0
    assert runner.invoke(cli, ["decompress", str(copy) + ".rcz"]).exit_code == 0
    assert np.array_equal(np.asarray(Image.open(copy)), original)


@pytest.mark.parametrize("path", WAVS, ids=lambda p: p.stem)
def test_audio_round_trip_api_and_cli(path, tmp_path):
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    out = rcodec.decode(rcodec.encode(path))
    assert out.sample_rate == rate and np.array_equal(out.samples, samples)
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    runner = CliRunner()
    assert runner.invoke(cli, ["compress", "--rm", str(copy)]).exit_code == 0
    assert runner.invoke(cli, ["decompress", str(copy) + ".rcz"]).exit_code == 0
    back, back_rate = soundfile.read(copy, dtype="float32", always_2d=True)
    assert back_rate == rate and np.array_equal(back, samples)
    assert soundfile.info(copy).subtype == soundfile.info(path).subtype


def test_ogg_input_is_refused_for_lossless_or_coded_exactly(tmp_path):
    """Decoded Vorbis is float off the PCM grid: the lossless codec must say so, not silently round."""
    ogg = next((KODAK[0].parents[1] / "audio" / "ogg").glob("*.ogg"))
    try:
        data = rcodec.encode(ogg)
    except rcodec.MediaError as exc:
        assert "PCM" in str(exc)
    else:
        original = soundfile.read(ogg, dtype="float32", always_2d=True)[0]
        assert np.array_equal(rcodec.decode(data).samples, original)
