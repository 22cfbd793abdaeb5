"""The `inr-vc` codec (shared meta-learned SIREN + per-patch latents + learned prior): round trips, rate control,
determinism across thread counts, the golden file, bad input and damaged files. Runs on the shipped weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from thread_counts import on_one_and_two_threads

import rcodec
import rcodec.plugins.inr
from rcodec.errors import RcodecError, WeightsError

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "samples" / "golden" / "inr" / "kodim23_crop_64x80.inr-vc.rcz"
FAST = {"steps": 2, "time_budget": 1000.0}  # a fixed number of refinement steps: reproducible and quick


def _photo() -> np.ndarray:
    """A 64x80 crop of the sample photo: not a multiple of the 32-pixel patch in width, so padding is exercised."""
    return np.asarray(Image.open(ROOT / "samples" / "kodim23_crop.png").convert("RGB"))[:64, :80].copy()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * np.log10(255.0**2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


def _flat_psnr(image: np.ndarray) -> float:
    """PSNR of the best flat colour: what a codec that ignores the content would score."""
    return _psnr(np.broadcast_to(image.mean(axis=(0, 1)), image.shape), image)


def test_round_trip_reconstructs_the_photo_and_is_reproducible():
    image = _photo()
    data = rcodec.encode(image, codec="inr-vc", step=12, **FAST)
    out = rcodec.decode(data)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert _psnr(out, image) > _flat_psnr(image) + 5
    assert rcodec.encode(image, codec="inr-vc", step=12, **FAST) == data
    info = rcodec.info(data)
    assert info["codec"] == "inr-vc"


def test_grey_image_round_trip():
    grey = _photo().mean(axis=2).astype(np.uint8)
    out = rcodec.decode(rcodec.encode(grey, codec="inr-vc", step=10, **FAST))
    assert out.shape == grey.shape and _psnr(out, grey) > _flat_psnr(grey[:, :, None]) + 3


def test_finer_step_costs_more_and_rate_target_is_followed():
    image = _photo()
    coarse = rcodec.encode(image, codec="inr-vc", step=2, **FAST)
    fine = rcodec.encode(image, codec="inr-vc", step=12, **FAST)
    assert len(coarse) < len(fine)
    assert _psnr(rcodec.decode(coarse), image) < _psnr(rcodec.decode(fine), image)
    low = rcodec.encode(image, codec="inr-vc", bpp=0.1, **FAST)
    high = rcodec.encode(image, codec="inr-vc", bpp=1.0, **FAST)
    assert len(low) < len(high)


def test_decode_identical_on_one_and_two_threads():

    data = rcodec.encode(_photo(), codec="inr-vc", step=9, **FAST)
    one, two = on_one_and_two_threads(lambda: rcodec.decode(data))
    assert np.array_equal(one, two)


def test_golden_file_decodes_identically_on_one_and_two_threads():
    """The container checks the hash of the entropy-decoded latents strictly and the header the weights' sha256,
    so a decode that succeeds read exactly the encoder's integers with the same weights."""

    from rcodec.pipeline import decode_bytes

    data = GOLDEN.read_bytes()
    one, two = (result[0] for result in on_one_and_two_threads(lambda: decode_bytes(data)))
    assert one.canonical_bytes() == two.canonical_bytes()
    assert one.shape == (64, 80, 3)
    recorded = np.asarray(Image.open(GOLDEN.with_suffix(".decoded.png"))).astype(np.int16)
    assert np.abs(one.data.astype(np.int16) - recorded).max() <= 1
    assert _psnr(one.data, _photo()) > _flat_psnr(_photo()) + 5


def test_shipped_prior_tables_are_valid_and_coarser_steps_cost_less():
    from rcodec.plugins.inr import vc_prior
    from rcodec.plugins.inr.vc_codec import _load

    prep = _load(None)
    prep.tables.validate()
    assert np.all(np.diff(prep.grid) < 0)  # the ladder goes from coarse to fine
    z = np.random.default_rng(0).laplace(0, 0.2, (50, prep.cfg.latent))
    bits = [prep.tables.information_bits(vc_prior.quantize(z, prep.grid[j]).ravel(),
                                         vc_prior.table_indexes(j, 50, z.shape[1]))
            for j in range(vc_prior.GRID)]
    assert bits[0] < bits[-1]


@pytest.mark.parametrize("bad", [{"step": 16}, {"step": -1}, {"steps": -1}, {"bpp": 0.0}, {"quality": 9},
                                 {"nonsense": 1}])
def test_bad_parameters_are_clear_errors(bad):
    with pytest.raises(RcodecError):
        rcodec.encode(_photo(), codec="inr-vc", **{**FAST, **bad})


def test_bad_media_is_refused():
    with pytest.raises(rcodec.MediaError):
        rcodec.encode(np.zeros((8, 8, 4), np.uint8), codec="inr-vc", **FAST)
    with pytest.raises(RcodecError):  # audio, but more channels than the codec takes
        rcodec.encode(rcodec.Audio(np.zeros((100, 9), np.float32), 8000), codec="inr-vc", **FAST)


@pytest.mark.parametrize("where", [0.5, 0.8])
def test_damaged_stream_is_refused(where):
    data = bytearray(GOLDEN.read_bytes())
    data[int(len(data) * where)] ^= 0x5A
    with pytest.raises(RcodecError):
        rcodec.decode(bytes(data))


def test_truncated_file_is_refused():
    data = GOLDEN.read_bytes()
    with pytest.raises(RcodecError):
        rcodec.decode(data[: len(data) - 9])


def test_other_weights_are_refused(tmp_path):
    from rcodec.plugins.inr.vc_export import WEIGHTS_DIR, WEIGHTS_NAME

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError):
        rcodec.decode(GOLDEN.read_bytes(), weights=str(garbage))
    copy = tmp_path / "copy.pt"
    copy.write_bytes((WEIGHTS_DIR / WEIGHTS_NAME).read_bytes() + b"\0")  # same tensors, other sha256
    with pytest.raises(WeightsError):
        rcodec.decode(GOLDEN.read_bytes(), weights=str(copy))
