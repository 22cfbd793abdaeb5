"""ISCS: the parameter-derived channel analysis, and the `hyperprior-iscs` codec (slices, conditioning, preview)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import rcodec
from conftest import DATA, KODAK
from rcodec.cli import _load_plugin_commands, cli
from rcodec.container import read
from test_hyperprior import _assert_same_pixels_across_threads_and_processes, _fresh_checkpoint

torch = pytest.importorskip("torch")
CODEC = "hyperprior-iscs"
_load_plugin_commands()


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    a = np.asarray(Image.open(KODAK[4]))[100:228, 300:492]
    b = np.asarray(Image.open(KODAK[20]))[50:178, 100:292]
    c = np.asarray(Image.open(KODAK[12]))[:77, :101]
    return [np.ascontiguousarray(x) for x in (a, b, c)]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_analysis_partitions_channels():
    from rcodec.plugins.iscs.analysis import analyse

    model = rcodec.get_registry().codec("hyperprior").model(None)
    for q in (0, 7):
        result = analyse(model, q, 0.5)
        assert sorted(result.order) == list(range(128))
        assert sorted(result.core + result.auxiliary) == list(range(128)) and 0 < len(result.core) < 128
        ranked = np.argsort(-np.asarray(result.scores), kind="stable")
        assert set(result.core) == set(ranked[: len(result.core)].tolist())  # Core = the top scores


def test_analyze_command_with_ablation_json(tmp_path):
    out = tmp_path / "iscs.json"
    result = CliRunner().invoke(cli, ["iscs", "analyze", "--quality", "4", "--ablation",
                                      str(DATA / "train_images"), "--images", "2", "--crop", "128",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert {"order", "core", "auxiliary", "scores", "spearman_vs_ablation"} <= set(payload)
    # A real measurement: parameter scores must rank channels much like zeroing them does.
    assert payload["spearman_vs_ablation"] > 0.8


def test_decode_is_identical_across_threads_and_processes(crops, tmp_path):
    _assert_same_pixels_across_threads_and_processes(CODEC, enumerate(crops[1:]), tmp_path, process_threads=2)


def test_slices_cost_little_at_equal_quality():
    # Measured with the shipped weights: the Core/Auxiliary slices with channel-conditional parameters code within
    # a few percent of the plain hyperprior (stream overheads against a small conditioning gain).
    image = np.ascontiguousarray(np.asarray(Image.open(KODAK[22]))[64:448, 128:640])
    for q in (2, 6):
        plain = rcodec.encode(image, codec="hyperprior", quality=q)
        sliced = rcodec.encode(image, codec=CODEC, quality=q)
        assert read(sliced).header.params["conditional"]
        assert len(sliced) < 1.04 * len(plain)
        assert abs(_psnr(rcodec.decode(sliced), image) - _psnr(rcodec.decode(plain), image)) < 0.2


def test_core_only_preview(crops, tmp_path):
    data = rcodec.encode(crops[0], codec=CODEC, quality=6)
    full = rcodec.decode(data)
    preview = rcodec.decode(data, core_only=True)
    streams = [len(s) for s in read(data).streams]
    assert len(streams) == 4 and streams[0] + streams[1] < 0.8 * sum(streams)
    assert preview.shape == full.shape and not np.array_equal(preview, full)
    flat = np.broadcast_to(crops[0].reshape(-1, 3).mean(0).round().astype(np.uint8), crops[0].shape)
    assert _psnr(flat, crops[0]) + 2 < _psnr(preview, crops[0]) < _psnr(full, crops[0])
    # Through the CLI; the full decode of the same file is unaffected.
    src = tmp_path / "a.png.rcz"
    src.write_bytes(data)
    result = CliRunner().invoke(cli, ["decompress", "--core-only", str(src), "-o", str(tmp_path / "p.png")])
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.asarray(Image.open(tmp_path / "p.png")), preview)


def test_core_only_refused_by_codecs_without_a_core(crops, tmp_path):
    src = tmp_path / "a.png.rcz"
    src.write_bytes(rcodec.encode(crops[2], codec="hyperprior", quality=1))
    result = CliRunner().invoke(cli, ["decompress", "--core-only", str(src), "-o", str(tmp_path / "p.png")])
    assert result.exit_code == 1 and "core_only" in result.output
    assert not (tmp_path / "p.png").exists()


def test_user_checkpoint_codes_without_conditioning(tmp_path, crops):
    path = _fresh_checkpoint(tmp_path, "mean-scale")
    data = rcodec.encode(crops[2], codec=CODEC, quality=1, weights=str(path))
    assert read(data).header.params["conditional"] is False
    out = rcodec.decode(data, weights=str(path))
    assert out.shape == crops[2].shape
    with pytest.raises(rcodec.WeightsError, match="--weights"):
        rcodec.decode(data)


def test_every_flipped_byte_decodes_or_raises(crops):
    data = rcodec.encode(crops[2][:40, :40], codec=CODEC, quality=1)
    reference = rcodec.decode(data)
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0x24
        try:
            out = rcodec.decode(bytes(damaged))
        except rcodec.RcodecError:
            continue
        assert np.array_equal(out, reference), i


@pytest.mark.slow
def test_all_kodak_all_qualities_deterministic(tmp_path):
    """The full proof (slow): every Kodak image at every quality, 1 vs 2 threads and a fresh process."""
    images = ((path.stem, np.asarray(Image.open(path))) for path in KODAK)
    _assert_same_pixels_across_threads_and_processes(CODEC, images, tmp_path, process_threads=2)
