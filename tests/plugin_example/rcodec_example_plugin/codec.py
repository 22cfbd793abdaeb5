"""The example codec; imported only when the registry asks for codecs, so `rcodec --help` stays fast."""

from __future__ import annotations

import numpy as np

import rcodec
from rcodec.entropy import CdfTables, quantize_pmf
from rcodec.media import Media

_COUNT_TABLE = CdfTables.uniform(256)


class Order0Codec(rcodec.Codec):
    id = "example-order0"
    version = 1
    media = ("image",)
    lossless = True
    description = "example plugin: order-0 byte histogram + entropy coder"

    def encode(self, media: Media, params, sink) -> rcodec.EncodeResult:
        values = media.data.ravel()
        counts = np.bincount(values, minlength=256)
        # The histogram travels as 4 bytes per symbol so the decoder can rebuild the same integer table.
        raw = np.frombuffer(counts.astype("<u4").tobytes(), dtype=np.uint8)
        sink.write(raw, _COUNT_TABLE)
        sink.write(values, CdfTables.from_frequencies(quantize_pmf(counts.astype(float))))
        return rcodec.EncodeResult()

    def decode(self, source, header, options) -> Media:
        raw = source.read(_COUNT_TABLE, count=1024).astype(np.uint8)
        counts = np.frombuffer(raw.tobytes(), dtype="<u4").astype(np.float64)
        size = int(np.prod(header.shape))
        values = source.read(CdfTables.from_frequencies(quantize_pmf(counts)), count=size)
        return Media("image", values.astype(np.uint8).reshape(header.shape))


