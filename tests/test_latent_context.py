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
