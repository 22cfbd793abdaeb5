"""The plugin registry: hooks, conflicts, misspelt hooks, run-time registration."""

from __future__ import annotations

import numpy as np
import pluggy
import pytest

import rcodec
from rcodec.entropy import CdfTables
from rcodec.media import Media
from rcodec.registry import Registry


class _RawCodec(rcodec.Codec):
    id = "test-raw"
    media = ("image",)
    lossless = True
    description = "stores bytes with a uniform table"

    def encode(self, media, params, sink):
        sink.write(media.data.ravel(), CdfTables.uniform(256))
        return rcodec.EncodeResult()

    def decode(self, source, header, options):
        values = source.read(CdfTables.uniform(256), count=int(np.prod(header.shape)))
        return Media("image", values.astype(np.uint8).reshape(header.shape))


class _Plugin:
    @rcodec.hookimpl
    def rcodec_register_codecs(self, register):
        register(_RawCodec)


@pytest.fixture
def mock_plugin():
    registry = rcodec.get_registry()
    registry.register_plugin(_Plugin(), name="mock")
    yield registry
    registry.unregister_plugin("mock")


def test_runtime_plugin_registers_and_codes(mock_plugin):
    assert "test-raw" in rcodec.codecs()
    image = np.arange(60, dtype=np.uint8).reshape(6, 10)
    assert np.array_equal(rcodec.decode(rcodec.encode(image, codec="test-raw")), image)
    assert any(p.name == "mock" and "rcodec_register_codecs" in p.hooks for p in mock_plugin.plugins())


def test_duplicate_codec_id_is_refused(mock_plugin):
    class Twin:
        @rcodec.hookimpl
        def rcodec_register_codecs(self, register):
            register(_RawCodec)

    mock_plugin.register_plugin(Twin(), name="twin")
    try:
        with pytest.raises(rcodec.UnsupportedError, match="registered by both"):
            mock_plugin.codec_classes()
    finally:
        mock_plugin.unregister_plugin("twin")


def test_misspelt_hook_fails_loudly():
    class Typo:
        @rcodec.hookimpl
        def rcodec_register_codec(self, register):  # missing "s"
            pass

    registry = Registry()
    with pytest.raises(pluggy.PluginValidationError):
        registry.register_plugin(Typo(), name="typo")


def test_builtins_come_through_the_hooks():
    registry = rcodec.get_registry()
    builtins = {p.name for p in registry.plugins() if p.builtin}
    assert {"coders", "lossless", "hyperprior"} <= builtins
    assert registry.codec_classes()["lossless"][1] == "lossless"
    assert registry.coders()["ans"][1] == "coders"
