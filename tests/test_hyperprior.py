"""The learned codecs: deterministic entropy parameters, user checkpoints, hostile input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import rcodec
from conftest import KODAK
from fuzz.forge import fix_crcs
from rcodec.cli import cli
from rcodec.pipeline import decode_bytes

CODECS = ["factorized", "hyperprior"]


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    """Two 128x192 crops with different content, plus an odd size that needs padding."""
    a = np.asarray(Image.open(KODAK[4]))[100:228, 300:492]
    b = np.asarray(Image.open(KODAK[20]))[50:178, 100:292]
    c = np.asarray(Image.open(KODAK[12]))[:77, :101]
    return [np.ascontiguousarray(x) for x in (a, b, c)]


def _decode_with_threads(data: bytes, threads: int) -> np.ndarray:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return rcodec.decode(data)
    finally:
        torch.set_num_threads(before)


def _assert_same_pixels_across_threads_and_processes(codec, named_images, tmp_path, process_threads: int) -> None:
    """Each image at every quality: decoding with 1 and 2 torch threads, and in a fresh process, gives the same
    pixels (a fresh process also re-checks the symbols hash)."""
    files = []
    for name, image in named_images:
        for quality in range(1, 9):
            data = rcodec.encode(image, codec=codec, quality=quality)
            one, two = _decode_with_threads(data, 1), _decode_with_threads(data, 2)
            assert one.shape == image.shape and np.array_equal(one, two), (name, quality)
            path = tmp_path / f"{name}_{quality}.rcz"
            path.write_bytes(data)
            np.save(tmp_path / f"{name}_{quality}.npy", one)
            files.append(path)
    code = (f"import sys, numpy as np, torch, rcodec; torch.set_num_threads({process_threads})\n"
            "for p in sys.argv[1:]:\n"
            "    assert np.array_equal(rcodec.decode(open(p, 'rb').read()), np.load(p[:-4] + '.npy')), p\n")
    subprocess.run([sys.executable, "-c", code, *map(str, files)], check=True)


@pytest.mark.parametrize("codec", CODECS)
def test_decode_is_identical_across_threads_and_processes(codec, crops, tmp_path):
    _assert_same_pixels_across_threads_and_processes(codec, enumerate(crops), tmp_path, process_threads=1)


@pytest.mark.parametrize("codec", CODECS)
def test_rate_grows_with_quality(codec, crops):
    sizes = [len(rcodec.encode(crops[0], codec=codec, quality=q)) for q in range(1, 9)]
    assert sizes == sorted(sizes) and sizes[-1] > 2 * sizes[0], sizes


def test_info_and_header(crops):
    data = rcodec.encode(crops[2], codec="hyperprior", quality=3)
    facts = rcodec.info(data)
    assert facts["codec"] == "hyperprior" and facts["params"]["quality"] == 3 and facts["weights_sha256"]
    _, report = decode_bytes(data)
    assert report.output_hash_present and not report.lossless


def test_grayscale_and_alpha(crops):
    gray = crops[0][:, :, 1].copy()
    out = rcodec.decode(rcodec.encode(gray, codec="hyperprior", quality=6))
    assert out.shape == gray.shape and out.dtype == np.uint8
    with pytest.raises(rcodec.MediaError, match="alpha"):
        rcodec.encode(np.zeros((16, 16, 4), np.uint8), codec="hyperprior")


def test_every_flipped_byte_decodes_or_raises(crops):
    image = crops[2][:40, :40]
    data = rcodec.encode(image, codec="hyperprior", quality=1)
    reference = rcodec.decode(data)
    for i in range(0, len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0x24
        try:
            out = rcodec.decode(bytes(damaged))
        except rcodec.RcodecError:
            continue
        assert np.array_equal(out, reference), i


# --- user checkpoints in CompressAI's format ---------------------------------------------------------------------

def _fresh_checkpoint(tmp_path, kind: str):
    from rcodec._compat import compressai

    torch.manual_seed(0)
    models = compressai().models
    net = {"factorized": models.FactorizedPrior, "scale": models.ScaleHyperprior,
           "mean-scale": models.MeanScaleHyperprior}[kind](16, 24)
    path = tmp_path / f"{kind}.pth.tar"
    torch.save(net.state_dict(), path)
    return path


@pytest.mark.parametrize("kind", ["factorized", "scale", "mean-scale"])
def test_user_compressai_checkpoint(kind, tmp_path, crops):
    codec = "factorized" if kind == "factorized" else "hyperprior"
    weights = _fresh_checkpoint(tmp_path, kind)
    image = crops[2]
    data = rcodec.encode(image, codec=codec, weights=str(weights))
    assert rcodec.info(data)["params"]["user_weights"] is True
    out = rcodec.decode(data, weights=str(weights))
    assert out.shape == image.shape
    with pytest.raises(rcodec.WeightsError, match="--weights"):
        rcodec.decode(data)
    runner = CliRunner()
    src = tmp_path / "img.png"
    Image.fromarray(image).save(src)
    assert runner.invoke(cli, ["compress", "--codec", codec, "--weights", str(weights), str(src)]).exit_code == 0
    result = runner.invoke(cli, ["decompress", "-o", str(tmp_path / "out.png"), str(src) + ".rcz"])
    assert result.exit_code == 1 and "--weights" in result.output
    result = runner.invoke(cli, ["decompress", "--weights", str(weights), "-o", str(tmp_path / "out.png"),
                                 str(src) + ".rcz"])
    assert result.exit_code == 0 and np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), out)


def test_wrong_checkpoint_kind_is_refused(tmp_path, crops):
    weights = _fresh_checkpoint(tmp_path, "factorized")
    with pytest.raises(rcodec.WeightsError, match="does not fit"):
        rcodec.encode(crops[2], codec="hyperprior", weights=str(weights))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(rcodec.WeightsError):
        rcodec.encode(crops[2], codec="hyperprior", weights=str(garbage))


@pytest.mark.slow
@pytest.mark.parametrize("codec", CODECS)
def test_all_kodak_all_qualities_deterministic(codec, tmp_path):
    """The full proof (slow): every Kodak image at every quality, 1 vs 2 threads and a fresh process."""
    images = ((path.stem, np.asarray(Image.open(path))) for path in KODAK)
    _assert_same_pixels_across_threads_and_processes(codec, images, tmp_path, process_threads=2)


def test_rcodec_test_reports_lossy_output_mismatch_without_failing(crops, tmp_path):
    """A lossy file whose recorded output hash differs (as on a machine with other float kernels) still passes
    `rcodec test`, with a remark; the same damage to a lossless file fails."""
    for codec, expected_exit in (("hyperprior", 0), ("lossless", 1)):
        data = bytearray(rcodec.encode(crops[2], codec=codec, **({"quality": 2} if codec != "lossless" else {})))
        data[-5] ^= 0x01  # last byte of the output hash (footer: ... output hash, end magic)
        path = tmp_path / f"{codec}.rcz"
        path.write_bytes(fix_crcs(bytes(data)))  # the hash differs, the file is otherwise intact
        result = CliRunner().invoke(cli, ["test", str(path)])
        assert result.exit_code == expected_exit, result.output
        if codec == "hyperprior":
            assert "OK" in result.output and "differ" in result.output


def test_fast_synthesis_is_the_same_map_as_the_transposed_convolutions():
    import torch

    from rcodec.plugins.hyperprior.fast_synthesis import SubPixelConv, fast_synthesis

    torch.manual_seed(0)
    for c_in, c_out in ((8, 5), (3, 16)):
        deconv = torch.nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1)
        x = torch.randn(1, c_in, 7, 9)
        with torch.no_grad():
            assert torch.allclose(SubPixelConv(deconv)(x), deconv(x), atol=1e-5)
    other = torch.nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1)  # not the 5x5/2 form
    net = torch.nn.Sequential(torch.nn.ConvTranspose2d(4, 4, 5, 2, 2, 1), torch.nn.ReLU(), other)
    fast = fast_synthesis(net)
    kinds = [type(m).__name__ for m in fast.inner]
    assert kinds == ["SubPixelConv", "ReLU", "ConvTranspose2d"]
    x = torch.randn(1, 4, 6, 5)
    with torch.no_grad():
        assert torch.allclose(fast(x), net(x), atol=1e-5)
