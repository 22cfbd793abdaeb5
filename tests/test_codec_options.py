"""Codecs declare their options; the command line builds its flags and per-codec help from them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import rcodec
from rcodec.cli import cli
from rcodec.entropy import CdfTables
from rcodec.media import Media


class _GainCodec(rcodec.Codec):
    """Stores pixels times `gain` (clipped): enough to see a declared flag reach the codec."""

    id = "test-gain"
    media = ("image",)
    lossless = False
    description = "scales pixels"
    options = {"gain": rcodec.Option(int, 1, "multiply pixels by this", range=(1, 4), flag="--test-gain")}
    decode_options = {"invert": rcodec.Option(bool, False, "invert the decoded pixels", flag="--test-invert")}

    def encode(self, media, params, sink):
        values = np.clip(media.data.astype(np.int32) * params["gain"], 0, 255)
        sink.write(values.ravel(), CdfTables.uniform(256))
        return rcodec.EncodeResult({"gain": params["gain"]})

    def decode(self, source, header, options):
        values = source.read(CdfTables.uniform(256), count=int(np.prod(header.shape))).astype(np.uint8)
        values = 255 - values if options["invert"] else values
        return Media("image", values.reshape(header.shape))

    def partial(self, options):
        return bool(options.get("invert"))


class _Plugin:
    @rcodec.hookimpl
    def rcodec_register_codecs(self, register):
        register(_GainCodec)


@pytest.fixture
def gain_plugin():
    registry = rcodec.get_registry()
    registry.register_plugin(_Plugin(), name="gain")
    yield registry
    registry.unregister_plugin("gain")


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "pic.png"
    Image.fromarray(np.full((4, 6), 30, np.uint8)).save(path)
    return path


def test_option_names_come_from_the_declaration():
    assert _GainCodec.options["gain"].name == "gain" and _GainCodec.decode_options["invert"].name == "invert"


def test_declared_flag_reaches_the_codec(gain_plugin, png, tmp_path):
    result = CliRunner().invoke(cli, ["compress", "--codec", "test-gain", "--test-gain", "3", str(png)])
    assert result.exit_code == 0, result.output
    data = (tmp_path / "pic.png.rcz").read_bytes()
    assert rcodec.info(data)["params"]["gain"] == 3
    assert int(rcodec.decode(data)[0, 0]) == 90


def test_declared_range_is_enforced(gain_plugin, png):
    result = CliRunner().invoke(cli, ["compress", "--codec", "test-gain", "-p", "gain=9", str(png)])
    assert result.exit_code == 1 and "gain must be between 1 and 4" in result.output
    with pytest.raises(rcodec.UnsupportedError, match="gain must be between"):
        rcodec.encode(np.zeros((2, 2), np.uint8), codec="test-gain", gain=0)


def test_declared_flag_of_another_codec_is_refused(gain_plugin, png):
    result = CliRunner().invoke(cli, ["compress", "--test-gain", "2", str(png)])  # the default codec: lossless
    assert result.exit_code == 1 and "no parameter gain" in result.output


def test_per_codec_help_lists_options_and_flags(gain_plugin):
    result = CliRunner().invoke(cli, ["codecs", "test-gain"])
    assert result.exit_code == 0, result.output
    assert "gain (int 1..4; default: 1; flag: --test-gain)" in result.output
    assert "invert (bool; default: False; flag: --test-invert)" in result.output
    rows = json.loads(CliRunner().invoke(cli, ["codecs", "--json", "test-gain"]).output)
    assert rows["options"][0]["range"] == [1, 4] and rows["decode_options"][0]["flag"] == "--test-invert"
    assert "--test-gain" in CliRunner().invoke(cli, ["compress", "--help"]).output
    assert CliRunner().invoke(cli, ["codecs", "no-such-codec"]).exit_code == 1


def test_partial_decode_keeps_the_source_with_rm(gain_plugin, png, tmp_path):
    CliRunner().invoke(cli, ["compress", "--codec", "test-gain", str(png)])
    rcz = tmp_path / "pic.png.rcz"
    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli, ["decompress", "--test-invert", "--rm", str(rcz), "-o", str(out)])
    assert result.exit_code == 1 and "partial decode" in result.output
    assert rcz.exists() and not out.exists()
    result = CliRunner().invoke(cli, ["decompress", "--test-invert", str(rcz), "-o", str(out)])
    assert result.exit_code == 0 and int(np.asarray(Image.open(out))[0, 0]) == 225


def test_old_flags_are_declared_by_their_plugins():
    """`--target-psnr` and `--core-only` keep working: declared by adaptive and iscs, not by the core."""
    classes = rcodec.get_registry().codec_classes()
    assert classes["alit"][0].options["target_psnr"].flag == "--target-psnr"
    assert classes["hyperprior-iscs"][0].decode_options["core_only"].flag == "--core-only"
    import inspect

    from rcodec import cli as cli_module

    source = inspect.getsource(cli_module)
    assert "--core-only" not in source and "--target-psnr" not in source
