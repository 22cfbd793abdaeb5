"""The `jpeg` codec: a JPEG file back byte for byte, about a fifth smaller.

The file is parsed into its quantized DCT coefficients and a skeleton of everything else (see payload.py); the
coefficients are coded by the context-mixing model of the native kernel. Files the model cannot reproduce exactly
(arithmetic coding, 12-bit, damaged streams, non-standard encoders) are stored xz-compressed: never lost or
changed. The container's output hash is over the original file, so `rcodec test` proves the round trip.

The payload is an opaque byte string (the kernel does its own binary arithmetic coding); it passes through the
chosen entropy coder as uniform 8-bit symbols, which costs nothing.
"""

from __future__ import annotations

import numpy as np

from rcodec import Codec, EncodeResult, FormatError, MediaError, UnsupportedError
from rcodec.entropy import CdfTables
from rcodec.jpegfile import JPEG_KIND, MAX_JPEG_BYTES
from rcodec.media import Media

from . import payload

_BYTE = CdfTables.uniform(256)
MAX_PAYLOAD_OVERHEAD = 1 << 16  # a stored file may grow by xz's framing


class JpegCodec(Codec):
    id = "jpeg"
    version = 1
    media = (JPEG_KIND,)
    lossless = True
    description = "exact JPEG files: DCT coefficients recoded with context mixing (the original bytes back)"
    options = {}

    def encode(self, media: Media, params, sink) -> EncodeResult:
        data = media.data.tobytes()
        if len(data) > MAX_JPEG_BYTES:
            raise MediaError(f"JPEG file of {len(data)} bytes is larger than this codec allows")
        body, facts = payload.pack(data)
        sink.write(np.frombuffer(body, dtype=np.uint8), _BYTE)
        params = {"payload_bytes": len(body), "modelled": facts["modelled"]}
        if facts["modelled"]:
            params |= {"width": facts["width"], "height": facts["height"]}
        return EncodeResult(params=params)

    def decode(self, source, header, options) -> Media:
        (size,) = header.shape
        count = header.params.get("payload_bytes")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= size + MAX_PAYLOAD_OVERHEAD:
            raise FormatError(f"invalid jpeg payload size {count!r}")
        if size > MAX_JPEG_BYTES:
            raise UnsupportedError(f"refusing to decode a JPEG file of {size} bytes")
        body = source.read(_BYTE, count=count).astype(np.uint8).tobytes()
        data = payload.unpack(body, size)
        return Media(JPEG_KIND, np.frombuffer(data, dtype=np.uint8))
