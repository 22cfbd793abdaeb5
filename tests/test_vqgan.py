"""vqgan codec: taming checkpoint layout, pad/crop to the grid, lost-index restoration, ladder, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

import rcodec
from rcodec import WeightsError

torch = pytest.importorskip("torch")

from thread_counts import on_one_and_two_threads  # noqa: E402

from rcodec.plugins.vqgan.ladder import build_ladder  # noqa: E402
from rcodec.plugins.vqgan.model import VqganConfig, VQModel, infer_config, load_state  # noqa: E402

TINY = VqganConfig(ch=32, ch_mult=(1, 1, 2), num_res_blocks=1, attn_resolutions=(64,), z_channels=32,
                   embed_dim=16, n_embed=64)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A small checkpoint in the real taming layout: `state_dict` with model keys plus discriminator `loss.*` keys."""
    torch.manual_seed(0)
    model = VQModel(TINY)
    state = dict(model.state_dict())
    state["loss.discriminator.main.0.weight"] = torch.zeros(64, 3, 4, 4)
    state["loss.logvar"] = torch.zeros(())
    path = tmp_path_factory.mktemp("taming") / "last.ckpt"
    torch.save({"epoch": 1, "global_step": 10, "state_dict": state}, path)
    return path


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256], axis=2)
    return np.clip(img + rng.integers(-8, 8, img.shape), 0, 255).astype(np.uint8)


def test_taming_key_layout_and_config_inference(ckpt):
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    for key in ("encoder.down.0.block.0.norm1.weight", "encoder.down.0.downsample.conv.weight",
                "encoder.down.2.attn.0.q.weight", "encoder.mid.attn_1.proj_out.weight",
                "encoder.mid.block_2.conv2.bias", "decoder.up.1.upsample.conv.weight",
                "decoder.up.2.block.1.conv1.weight", "decoder.up.2.attn.1.k.weight",
                "decoder.up.1.block.0.nin_shortcut.weight", "quant_conv.weight", "post_quant_conv.bias",
                "quantize.embedding.weight"):
        assert key in state, key
    cfg = infer_config({k: v for k, v in state.items() if not k.startswith("loss.")})
    assert (cfg.ch, cfg.ch_mult, cfg.num_res_blocks, cfg.attn_resolutions) == (32, (1, 1, 2), 1, (64,))
    assert (cfg.z_channels, cfg.embed_dim, cfg.n_embed, cfg.factor) == (32, 16, 64, 4)
    model = load_state(state)  # loss.* keys are ignored, the rest must match exactly
    assert torch.equal(model.quantize.embedding.weight, state["quantize.embedding.weight"])
    broken = dict(state)
    broken.pop("decoder.conv_out.bias")
    with pytest.raises(RuntimeError):
        load_state(broken, cfg)


def test_roundtrip_pads_to_grid_and_crops_back(ckpt):
    img = _image(37, 50)  # not a multiple of 4: padded to 40x52 (a 10x13 grid), cropped back
    data = rcodec.encode(img, codec="vqgan", weights=str(ckpt))
    info = rcodec.info(data)
    assert info["params"]["codebook"] == 64 and info["params"]["prior"] == "categorical"
    # 130 indices vs the 2x2 minimum grid of a 1x1 image: 126 more indices at log2(64) = 6 bits each (a foreign
    # checkpoint's prior is uniform)
    tiny = rcodec.encode(img[:1, :1], codec="vqgan", weights=str(ckpt))
    assert rcodec.decode(tiny, weights=str(ckpt)).shape == (1, 1, 3)
    assert abs(8 * (len(data) - len(tiny)) / 126 - 6) < 0.3
    out = rcodec.decode(data, weights=str(ckpt))
    assert out.shape == img.shape and out.dtype == np.uint8
    with pytest.raises(WeightsError):
        rcodec.decode(data)  # a file made with a user checkpoint needs it back


def test_decode_is_thread_independent(ckpt):
    data = rcodec.encode(_image(32, 48, 1), codec="vqgan", weights=str(ckpt))
    one, two = on_one_and_two_threads(lambda: rcodec.decode(data, weights=str(ckpt)))
    assert np.array_equal(one, two)


def test_lost_indices_are_restored(ckpt):
    from rcodec.plugins.vqgan.codec import lost_mask, restore

    mask = lost_mask((10, 13), 0.2, seed=3)
    assert mask.sum() == 26 and np.array_equal(mask, lost_mask((10, 13), 0.2, seed=3))
    z = torch.randn(1, 4, 10, 13)
    filled = restore(z, mask)
    assert torch.equal(filled[..., ~torch.from_numpy(mask)], z[..., ~torch.from_numpy(mask)])
    assert torch.isfinite(filled).all() and not torch.equal(filled, z * torch.from_numpy(~mask))
    data = rcodec.encode(_image(40, 52, 2), codec="vqgan", weights=str(ckpt))
    clean = rcodec.decode(data, weights=str(ckpt))
    lossy = rcodec.decode(data, weights=str(ckpt), lost_fraction=0.3, lost_seed=1)
    assert lossy.shape == clean.shape and not np.array_equal(lossy, clean)
    assert np.array_equal(lossy, rcodec.decode(data, weights=str(ckpt), lost_fraction=0.3, lost_seed=1))
    with pytest.raises(rcodec.RcodecError):
        rcodec.decode(data, weights=str(ckpt), lost_fraction=1.5)


def test_ladder_kmeans_and_integer_priors():
    torch.manual_seed(0)
    codebook = torch.randn(128, 8)
    latents = codebook[torch.randint(0, 128, (2000,))] + 0.05 * torch.randn(2000, 8)
    books, freqs = build_ladder(codebook, latents, (8, 16, 64, 128))
    assert {k: tuple(v.shape) for k, v in books.items()} == {8: (8, 8), 16: (16, 8), 64: (64, 8), 128: (128, 8)}
    for k, f in freqs.items():
        assert f.dtype == np.int64 and len(f) == k and f.min() >= 1 and f.sum() == 1 << 16
    again_books, again_freqs = build_ladder(codebook, latents, (8, 16, 64, 128))
    assert all(np.array_equal(freqs[k], again_freqs[k]) for k in freqs)
    # a finer codebook must represent the latents better
    err = {k: torch.cdist(latents, b).min(1).values.pow(2).mean().item() for k, b in books.items()}
    assert err[8] > err[16] > err[64] > err[128]


def test_bad_checkpoints_are_clear_errors(tmp_path):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError):
        rcodec.encode(_image(16, 16), codec="vqgan", weights=str(junk))
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}}, foreign)
    with pytest.raises(WeightsError):
        rcodec.encode(_image(16, 16), codec="vqgan", weights=str(foreign))


def test_shipped_weights_roundtrip_and_rungs():
    from rcodec.plugins.vqgan.export import WEIGHTS_DIR

    manifest = WEIGHTS_DIR / "WEIGHTS.json"
    if not manifest.exists():
        pytest.skip("no shipped vqgan weights")
    entry = json.loads(manifest.read_text())["vqgan.pt"]
    img = _image(64, 96, 4)
    sizes = []
    for quality in range(1, len(entry["ladder"]) + 1):
        data = rcodec.encode(img, codec="vqgan", quality=quality)
        assert rcodec.info(data)["params"]["codebook"] == entry["ladder"][quality - 1]
        assert rcodec.decode(data).shape == img.shape
        sizes.append(len(data))
    assert sizes[0] < sizes[-1]


def test_shipped_context_prior_and_restorers():
    from rcodec.plugins.vqgan.codec import _load
    from rcodec.plugins.vqgan.export import WEIGHTS_DIR

    if not (WEIGHTS_DIR / "WEIGHTS.json").exists():
        pytest.skip("no shipped vqgan weights")
    prep = _load(None)
    if not prep.context:
        pytest.skip("the shipped weights have no context model")
    img = _image(80, 112, 5)  # a 5x7 grid: every coding group is present
    data = rcodec.encode(img, codec="vqgan", quality=3)
    assert rcodec.info(data)["params"]["prior"] == "context"
    plain = rcodec.encode(img, codec="vqgan", quality=3, prior="categorical")
    assert np.array_equal(rcodec.decode(data), rcodec.decode(plain))  # the prior changes bits, not pixels
    context = rcodec.decode(data, lost_fraction=0.3, lost_seed=2)
    neighbours = rcodec.decode(data, lost_fraction=0.3, lost_seed=2, restorer="neighbours")
    assert not np.array_equal(context, neighbours)
    assert np.array_equal(context, rcodec.decode(data, lost_fraction=0.3, lost_seed=2))


def test_ms_ssim_terms_multiply_to_the_bench_ms_ssim():
    from rcodec.bench.image import ms_ssim
    from rcodec.plugins.vqgan.evaluate import MS_SSIM_WEIGHTS, ms_ssim_terms

    a = _image(176, 200, seed=1)
    b = np.clip(a.astype(int) + np.random.default_rng(2).integers(-30, 31, a.shape), 0, 255).astype(np.uint8)
    terms = np.array(ms_ssim_terms(a, b))
    assert np.all(terms < 1) and terms[0] < terms[-1]  # noise hurts the finest scale most
    # MS-SSIM averages the colour channels last; the channel-averaged terms multiply to nearly the same value
    assert np.prod(terms ** np.array(MS_SSIM_WEIGHTS)) == pytest.approx(ms_ssim(a, b), abs=1e-3)


def test_scale_tokenizes_a_resized_image_and_gives_back_the_original_size():
    image = _image(40, 56, seed=3)
    plain = rcodec.encode(image, codec="vqgan", quality=2)
    scaled = rcodec.encode(image, codec="vqgan", quality=2, scale=1.5)
    assert rcodec.info(scaled)["params"]["scale"] == 1.5 and "scale" not in rcodec.info(plain)["params"]
    assert len(scaled) > len(plain)  # 4x4 grid instead of 3x4
    out = rcodec.decode(scaled)
    assert out.shape == image.shape and np.array_equal(out, rcodec.decode(scaled))
    gray = rcodec.decode(rcodec.encode(image[:, :, 0], codec="vqgan", quality=1, scale=0.5))
    assert gray.shape == image.shape[:2]
    for bad in (0.1, 5.0, float("nan")):
        with pytest.raises(rcodec.MediaError, match="scale"):
            rcodec.encode(image, codec="vqgan", scale=bad)


@pytest.mark.parametrize("scale", [100.0, "x"])
def test_a_header_with_a_bad_scale_is_refused(scale):
    from rcodec import container

    data = rcodec.encode(_image(40, 56), codec="vqgan", quality=1, scale=1.5)
    parsed = container.read(data)
    parsed.header.params["scale"] = scale
    with pytest.raises(rcodec.RcodecError, match="scale"):  # the declared header parameter's range
        rcodec.decode(container.write(parsed))


def test_a_training_state_is_evaluated_at_its_top_rung(tmp_path):
    from PIL import Image

    from rcodec.plugins.vqgan.evaluate import evaluate_state
    from rcodec.plugins.vqgan.training import train

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(_image(176, 192, seed=i)).save(photos / f"p{i}.png")
    state = train(str(photos), str(tmp_path / "run"), 1, batch=1, crop=64, log=lambda _: None)
    result = evaluate_state(photos, 2, state)
    assert result["step"] == 1 and result["images"] == 2
    assert 0 < result["psnr"] < 60 and 0 < result["ms_ssim"] <= 1
