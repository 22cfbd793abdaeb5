"""The channel-and-spatial context model (`rcodec.entropy.latent`) and its training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from rcodec.entropy.latent import ChannelContext, anchor_mask, gaussian_bits


def _latents(seed: int = 0, channels: int = 16):
    gen = torch.Generator().manual_seed(seed)
    y = torch.randn(2, channels, 6, 8, generator=gen) * 4
    hyper = torch.cat([torch.rand(2, channels, 6, 8, generator=gen) * 5, y + torch.randn(2, channels, 6, 8,
                                                                                         generator=gen)], 1)
    return y, hyper


def test_untrained_model_codes_like_the_hyperprior():
    y, hyper = _latents()
    context = ChannelContext(16, order=list(range(15, -1, -1)), groups=(2, 2, 4, 8))
    out = context(y, hyper, noise=False)
    base = gaussian_bits(torch.round(y - hyper[:, 16:]), hyper[:, :16]).flatten(1).sum(1)
    assert torch.allclose(out["bits"], base)
    assert torch.equal(out["y_hat"], torch.round(y - hyper[:, 16:]) + hyper[:, 16:])


def test_non_anchors_see_only_anchors_of_their_group():
    """Changing a non-anchor of the last group changes no mean or scale of that group (only its own symbol)."""
    y, hyper = _latents(1)
    context = ChannelContext(16, groups=(4, 4, 8))
    for p in context.parameters():
        torch.nn.init.normal_(p, std=0.1)
    mask = anchor_mask(6, 8)
    changed = y.clone()
    changed[:, 8:] += 7 * (1 - mask)
    a, b = context(y, hyper, noise=False), context(changed, hyper, noise=False)
    assert torch.equal(a["means"][:, 8:], b["means"][:, 8:]) and torch.equal(a["scales"][:, 8:], b["scales"][:, 8:])
    changed = y.clone()
    changed[:, 8:] += 7 * mask  # anchors do inform the non-anchors
    assert not torch.equal(context(changed, hyper, noise=False)["means"][:, 8:], a["means"][:, 8:])


def test_bad_order_or_groups_are_refused():
    with pytest.raises(ValueError, match="permutation"):
        ChannelContext(4, order=[0, 1, 1, 2], groups=(2, 2))
    with pytest.raises(ValueError, match="add up"):
        ChannelContext(4, groups=(2, 1))


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):  # smooth random images: not the evaluation set
        small = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
        Image.fromarray(small).resize((96, 96), Image.BILINEAR).save(folder / f"p{i}.png")
    return folder


def test_training_resumes_exactly(photos, tmp_path):
    from rcodec.plugins.hyperprior.context_training import ContextTrainConfig, train_context

    def run(out: str, steps: int) -> dict:
        cfg = ContextTrainConfig(data=str(photos), out=str(tmp_path / out), steps=steps, batch=2, crop=64,
                                 checkpoint_every=2, pool=3, refresh=1, order="iscs")
        return torch.load(train_context(cfg, log=lambda _: None), weights_only=False)

    straight = run("straight", 4)
    run("resumed", 2)
    resumed = run("resumed", 4)
    assert resumed["step"] == straight["step"] == 4
    for name, value in straight["context"].items():
        assert torch.equal(value, resumed["context"][name]), name
    assert straight["pool_seeds"] == resumed["pool_seeds"]
    history = [json.loads(line) for line in (tmp_path / "straight" / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [2, 4]
    assert all(h["y_bpp"] > 0 and h["y_bpp_hyperprior"] > 0 for h in history)
    assert sorted(straight["context"]["order"].tolist()) == list(range(128))

    # Export: the integer weights of this checkpoint, small, naming the transforms they were trained for.
    from rcodec.entropy.latent import IntegerChannelContext
    from rcodec.plugins.hyperprior.context import NAME, export_context
    from rcodec.plugins.hyperprior.context_training import shipped_model

    entry = export_context(tmp_path / "straight" / "checkpoint.pt", "test", folder=tmp_path)
    model = shipped_model()
    assert entry["transforms_sha256"] == model.sha256.hex() and entry["steps"] == 4
    assert (tmp_path / NAME).stat().st_size < 1 << 20
    exported = torch.load(tmp_path / NAME, weights_only=True)
    twin = IntegerChannelContext.from_state(exported["context"], model.y_tables, model.thresholds)
    assert twin.order == straight["context"]["order"].tolist()


@pytest.fixture(scope="module")
def trained_like():
    """A context model with random (non-zero) weights, its integer twin, and a latent with its hyperprior."""
    from rcodec.entropy.latent import IntegerChannelContext, gaussian_tables, scale_thresholds

    torch.manual_seed(3)
    context = ChannelContext(16, order=list(np.random.default_rng(1).permutation(16)), groups=(2, 2, 4, 8))
    for p in context.parameters():
        torch.nn.init.normal_(p, std=0.05)
    tables = gaussian_tables()
    twin = IntegerChannelContext.from_float(context, tables, torch.from_numpy(scale_thresholds()))
    y, hyper = _latents(2)
    hyper_fixed = torch.round(hyper[:1].double() * 4096)
    return context, twin, y[:1], hyper_fixed, tables


def _roundtrip(twin, y, hyper_fixed):
    import rcodec
    from rcodec.codec import SymbolSink, SymbolSource

    coder = rcodec.get_registry().coder("rans")
    sink = SymbolSink(coder)
    y_hat = twin.encode(y, hyper_fixed, sink)
    streams, digest = sink.finish()
    source = SymbolSource(coder, streams)
    decoded = twin.decode(hyper_fixed, source)
    assert source.symbols_hash() == digest
    return y_hat, decoded, streams


def test_integer_twin_decodes_what_it_encoded(trained_like):
    context, twin, y, hyper_fixed, _ = trained_like
    y_hat, decoded, _ = _roundtrip(twin, y, hyper_fixed)
    assert torch.equal(y_hat, decoded)
    assert (y_hat - y).abs().max() <= 0.5 + 1e-6
    # The twin follows the float model up to fixed-point rounding of its weights.
    float_hat = context(y, hyper_fixed.float() / 4096, noise=False)["y_hat"]
    assert ((float_hat - y_hat).abs() < 0.01).float().mean() > 0.95


def test_integer_twin_state_roundtrip_and_threads(trained_like):
    from rcodec.entropy.latent import IntegerChannelContext

    _, twin, y, hyper_fixed, tables = trained_like
    state = twin.to_state()
    again = IntegerChannelContext.from_state(state, tables, twin.thresholds)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _roundtrip(twin, y, hyper_fixed)
        torch.set_num_threads(2)
        two = _roundtrip(again, y, hyper_fixed)
    finally:
        torch.set_num_threads(threads)
    assert one[2] == two[2] and torch.equal(one[1], two[1])
    broken = {**state, "groups": [2, 2, 4, 7]}
    with pytest.raises(ValueError):
        IntegerChannelContext.from_state(broken, tables, twin.thresholds)
    with pytest.raises(ValueError, match="hyperprior output"):
        twin.decode(hyper_fixed[:, :8], None)


def test_fixed_point_layer_is_the_exact_integer_formula():
    """In-place float64 arithmetic equals the plain integer formula even at the largest allowed magnitudes."""
    import torch.nn.functional as F

    from rcodec.entropy.latent.fixed import ACT_LIMIT, WEIGHT_LIMIT, FixedConv, layer

    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        w = torch.randint(-int(WEIGHT_LIMIT), int(WEIGHT_LIMIT) + 1, (16, 40, 3, 3), generator=gen).double()
        b = torch.randint(-2**40, 2**40, (16,), generator=gen).double()
        x = torch.randint(-2**26, 2**26, (1, 40, 9, 7), generator=gen).double()
        for activation in ("none", "leaky"):
            ref = torch.floor((F.conv2d(x, w, None, 1, 1) + b.view(1, -1, 1, 1)) / 4096)
            if activation == "leaky":
                ref = torch.where(ref < 0, torch.floor(ref * 655 / 65536), ref)
            assert torch.equal(layer([(FixedConv(w, b, 1), x)], activation), ref.clamp(-ACT_LIMIT, ACT_LIMIT))
