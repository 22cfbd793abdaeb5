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


def test_conditioning_saves_bits_at_equal_quality():
    # Kodak kodim23 is never used to fit the predictors. With the shipped weights the checkerboard and channel
    # conditioning save 2.6% of the bytes at quality 2 and 0.8% at quality 6 here against the same slices coded
    # without conditioning (`core_share` set); a broken predictor costs bytes.
    image = np.ascontiguousarray(np.asarray(Image.open(KODAK[22]))[64:448, 128:640])
    for q, most in ((2, 0.985), (6, 0.996)):
        unconditioned = rcodec.encode(image, codec=CODEC, quality=q, core_share=0.5)
        sliced = rcodec.encode(image, codec=CODEC, quality=q)
        assert read(sliced).header.params["conditional"] and not read(unconditioned).header.params["conditional"]
        assert len(sliced) < most * len(unconditioned)
        assert abs(_psnr(rcodec.decode(sliced), image) - _psnr(rcodec.decode(unconditioned), image)) < 0.1


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


def test_spatial_passes_see_only_decoded_neighbours():
    from rcodec.plugins.iscs.conditional import PASS_NEIGHBOURS, context_features, context_shift, pass_masks

    masks = pass_masks(4, 5)
    assert sum(m.astype(int) for m in masks).tolist() == np.ones((4, 5), int).tolist()  # a partition
    assert masks[0][0, 0] and masks[1][1, 1] and masks[2][0, 1] and masks[2][1, 0]
    symbols = np.zeros((2, 4, 5))
    symbols[1, 2, 2] = 7.0  # pass 0, channel 1
    symbols[0, 1, 2] = 99.0  # pass 2: never decoded before pass 2, must never be a feature
    # Pass 1 reads the diagonal pass-0 neighbours: (2, 2) is diagonal to (1, 1), (1, 3), (3, 1), (3, 3).
    f1 = context_features(symbols, masks[0], masks[1], PASS_NEIGHBOURS[1])
    pos1 = np.flatnonzero(masks[1].ravel())
    hits = {(int(pos1[n]) // 5, int(pos1[n]) % 5, f) for n, f in zip(*np.nonzero(f1))}
    # Columns: offsets (-1,-1), (-1,1), (1,-1), (1,1), each over the channels (0, 1).
    assert hits == {(3, 3, 1), (3, 1, 3), (1, 3, 5), (1, 1, 7)}
    # Pass 2 reads the direct neighbours decoded in passes 0 and 1.
    decoded = masks[0] | masks[1]
    f2 = context_features(symbols, decoded, masks[2], PASS_NEIGHBOURS[2])
    pos2 = list(np.flatnonzero(masks[2].ravel()))
    hits = {(int(pos2[n]) // 5, int(pos2[n]) % 5, f) for n, f in zip(*np.nonzero(f2))}
    assert hits == {(3, 2, 1), (1, 2, 3), (2, 3, 5), (2, 1, 7)}
    weights = np.zeros((8, 2), dtype=np.int64)
    weights[1, 1] = 3  # channel 1 from its neighbour above: 3 / 256 per unit
    shift = context_shift(weights, symbols, decoded, masks[2], PASS_NEIGHBOURS[2])
    assert shift[1][pos2.index(3 * 5 + 2)] == 21 / 256 and np.count_nonzero(shift) == 1


def test_file_from_other_predictors_is_refused_clearly(crops):
    from rcodec import WeightsError
    from rcodec.container import read as read_container
    from rcodec.plugins.iscs.codec import HyperpriorIscsCodec, predictors_id

    data = rcodec.encode(crops[2], codec=CODEC, quality=3)
    parsed = read_container(data)
    assert parsed.header.params["predictors"] == predictors_id()
    header = parsed.header
    header.params["predictors"] = bytes(8)  # as if written with other predictors
    with pytest.raises(WeightsError, match="other ISCS predictors"):
        HyperpriorIscsCodec().decode(None, header, {})


def test_decoder_means_equal_the_encoders_pass_by_pass_means():
    """The decoder reads a slice in one call and computes its means afterwards (`spatial_shift`); the encoder
    shifts them pass by pass (`code_slice`). Both must give the same numbers, and the same table indexes."""
    from rcodec.plugins.iscs import conditional
    from rcodec.plugins.iscs.codec import code_slice

    rng = np.random.default_rng(3)
    k, h, w, count = 4, 5, 7, 20
    spatial = conditional.SpatialPredictor(
        [rng.integers(-300, 300, (4 * k, k)), rng.integers(-300, 300, (4 * k, k))],
        [rng.integers(-3, 1, k), rng.integers(-3, 1, k)])
    means = np.round(rng.normal(size=(k, h, w)) * 4096) / 4096
    indexes = rng.integers(0, count, (k, h, w))
    truth = np.round(rng.normal(size=(k, h, w)) * 5)
    truth[0, 0, 0] = 5000.0  # beyond RESIDUAL_LIMIT: clipped as context, coded as is
    stream = []

    def code(pass_means, pass_indexes, positions):
        stream.append(pass_indexes.ravel())
        return truth.reshape(k, -1)[:, positions]

    coded_means, coded_indexes = means.copy(), indexes.copy()
    symbols = code_slice(np.arange(k), coded_means, coded_indexes, spatial, count, code)
    assert np.array_equal(symbols, truth)
    assert np.array_equal(conditional.stream_indexes(indexes, spatial, count), np.concatenate(stream))
    values = np.concatenate([truth.reshape(k, -1)[:, layout.positions].ravel()
                             for layout in conditional.pass_layouts(h, w)])
    unpacked = conditional.unpack_passes(values, k, h, w)
    assert np.array_equal(unpacked, truth)
    assert np.array_equal(means + conditional.spatial_shift(spatial, unpacked), coded_means)
    assert not np.array_equal(coded_means, means)  # the shifts did something


def test_predicted_shift_equals_features_times_weights():
    from rcodec.plugins.iscs import conditional

    rng = np.random.default_rng(4)
    core = np.round(rng.normal(size=(3, 6, 5)) * 3)
    core[1, 2, 2] = -9000.0  # clipped
    weights = rng.integers(-500, 500, (9 * 3, 4))
    weights[:, 2] = 0  # a channel without weights gets no shift
    expected = (conditional.core_features(core) @ weights.astype(np.float64)).T.reshape(4, 6, 5) / 256
    assert np.array_equal(conditional.predicted_shift(weights, core), expected)


@pytest.mark.parametrize("scale", [1, 40])
def test_shifts_are_exact_in_float32_and_float64(scale):
    """The decoder's shifts use float32 when no partial sum can reach 2**24 and float64 otherwise; both must give
    the exact integer sums of the float64 reference, here with weights small (scale 1) and large (scale 40)."""
    import torch

    from rcodec.plugins.iscs import conditional

    rng = np.random.default_rng(5)
    k, h, w = 6, 9, 11
    weights = [rng.integers(-300, 300, (4 * k, k)) * scale for _ in range(2)]
    symbols = np.round(rng.normal(size=(k, h, w)) * 30)
    symbols[2, 4, 4] = 3000.0  # clipped to RESIDUAL_LIMIT
    expected_dtype = torch.float32 if scale == 1 else torch.float64
    assert conditional.exact_dtype(conditional.RESIDUAL_LIMIT, np.concatenate(weights, axis=1)) == expected_dtype
    spatial = conditional.SpatialPredictor(weights, [np.zeros(k, dtype=np.int64)] * 2)
    context = np.zeros((k, h * w + 1))
    context[:, :-1] = np.clip(symbols.reshape(k, -1), -conditional.RESIDUAL_LIMIT, conditional.RESIDUAL_LIMIT)
    reference = np.zeros((k, h * w))
    for p, layout in enumerate(conditional.pass_layouts(h, w)):
        if p:
            features = context[:, layout.neighbours].transpose(1, 2, 0).reshape(len(layout.positions), -1)
            reference[:, layout.positions] = (features @ weights[p - 1].astype(np.float64)).T / 256
    assert np.array_equal(conditional.spatial_shift(spatial, symbols), reference.reshape(k, h, w))
    core_weights = rng.integers(-100, 100, (9 * k, 3)) * scale
    assert conditional.exact_dtype(conditional.RESIDUAL_LIMIT, core_weights) == expected_dtype
    expected = (conditional.core_features(symbols) @ core_weights.astype(np.float64)).T.reshape(3, h, w) / 256
    assert np.array_equal(conditional.predicted_shift(core_weights, symbols), expected)


def test_float32_refused_when_torch_computes_it_in_lower_precision():
    import torch

    from rcodec.plugins.iscs import conditional

    weights = np.ones((4, 1), dtype=np.int64)
    assert conditional.exact_dtype(10, weights) == torch.float32
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        assert conditional.exact_dtype(10, weights) == torch.float64
    finally:
        torch.set_float32_matmul_precision(before)
