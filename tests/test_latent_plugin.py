"""A third-party-style codec with its own toy transforms and hyperprior, coding its latent through the public
context model (`rcodec.entropy.latent`) alone: the contract a plugin relies on."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import rcodec
from rcodec import Codec, EncodeResult
from rcodec.entropy import CdfTables
from rcodec.entropy.latent import ChannelContext, IntegerChannelContext, gaussian_tables, scale_thresholds
from rcodec.media import Media

M = 8  # latent channels
BLOCK = 4  # the toy analysis averages 4x4 blocks
Z_LEVELS = 64


def _toy_context() -> IntegerChannelContext:
    torch.manual_seed(7)
    context = ChannelContext(M, order=[3, 1, 7, 0, 5, 2, 6, 4], groups=(2, 2, 4))
    for p in context.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return IntegerChannelContext.from_float(context, gaussian_tables(), torch.from_numpy(scale_thresholds()))


class ToyLatentCodec(Codec):
    """Latent: 8 fixed mixtures of the RGB block means (x 40). Hyper latent: the latent's 2x2 block means, rounded,
    coded with a flat table. Hyperprior: mean = the hyper latent, scale = 2, both in fixed point."""

    id = "test-toy-latent"
    version = 1
    media = ("image",)
    description = "test: toy transforms + the public context model"
    context = None
    mix = torch.linspace(-1, 1, M * 3).view(M, 3, 1, 1) * 40
    z_tables = CdfTables.from_pmfs([np.ones(Z_LEVELS) / Z_LEVELS], np.array([-Z_LEVELS // 2]), 16, escape=True)

    def _hyper_fixed(self, z_hat: torch.Tensor) -> torch.Tensor:
        means = F.interpolate(z_hat.double(), scale_factor=2, mode="nearest") * 4096
        return torch.cat([torch.full_like(means, 2 * 4096), means], 1)

    def encode(self, media: Media, params: dict[str, Any], sink) -> EncodeResult:
        x = torch.from_numpy(media.data.astype(np.float32)).permute(2, 0, 1)[None] / 255.0
        y = F.conv2d(F.avg_pool2d(x, BLOCK), self.mix)
        z_hat = torch.round(F.avg_pool2d(y, 2))
        sink.write(z_hat.to(torch.int32).numpy().ravel(), self.z_tables)
        y_hat = self.context.encode(y, self._hyper_fixed(z_hat), sink)
        self.last_encoded = y_hat
        return EncodeResult({}, None, self._synthesis(y_hat))

    def decode(self, source, header, options) -> Media:
        h, w = header.shape[0] // (2 * BLOCK), header.shape[1] // (2 * BLOCK)
        z_hat = torch.from_numpy(source.read(self.z_tables, count=M * h * w).astype(np.float64)).view(1, M, h, w)
        y_hat = self.context.decode(self._hyper_fixed(z_hat), source)
        self.last_decoded = y_hat
        return self._synthesis(y_hat)

    def _synthesis(self, y_hat: torch.Tensor) -> Media:
        flat = self.mix.view(M, 3)
        x = torch.einsum("bmhw,mc->bchw", y_hat, torch.linalg.pinv(flat).T)
        x = F.interpolate(x, scale_factor=BLOCK, mode="nearest")
        pixels = torch.round(x.clamp(0, 1) * 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
        return Media("image", np.ascontiguousarray(pixels))


@pytest.fixture(scope="module")
def toy_codec():
    ToyLatentCodec.context = _toy_context()

    class Plugin:
        @rcodec.hookimpl
        def rcodec_register_codecs(self, register):
            register(ToyLatentCodec)

    registry = rcodec.get_registry()
    registry.register_plugin(Plugin(), name="test-toy-latent")
    try:
        yield registry.codec(ToyLatentCodec.id)
    finally:
        registry.unregister_plugin("test-toy-latent")


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    from PIL import Image

    from conftest import KODAK

    with Image.open(KODAK[3]) as img:
        return np.asarray(img.convert("RGB"))[64:160, 96:224].copy()


def test_encoder_and_decoder_rebuild_the_same_latent(toy_codec, image):
    data = rcodec.encode(image, codec=ToyLatentCodec.id)
    decoded = rcodec.decode(data)
    assert torch.equal(toy_codec.last_encoded, toy_codec.last_decoded)
    assert decoded.shape == image.shape


def test_same_bytes_on_one_and_two_threads(toy_codec, image):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = rcodec.encode(image, codec=ToyLatentCodec.id)
        torch.set_num_threads(2)
        two = rcodec.encode(image, codec=ToyLatentCodec.id)
        assert np.array_equal(rcodec.decode(one), rcodec.decode(two))
    finally:
        torch.set_num_threads(threads)
    assert one == two
