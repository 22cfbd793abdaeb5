"""Lossless images, codec version 2: the context-mixing coder of the `_cmimage` extension.

The extension codes each horizontal stripe of the image into its own byte string (see cm_image.cpp). Each stripe's
bytes travel in their own container stream as uniform 8-bit symbols (the entropy coder adds only its flush), and
the header records each stripe's byte count. Images of `STRIPE_PIXELS` pixels or more are cut into two stripes so
that encoder and decoder can use two threads; smaller ones are one stripe.
"""

from __future__ import annotations

import os

import numpy as np

from rcodec import FormatError, MediaError
from rcodec.entropy import CdfTables

from . import _cmimage

STRIPE_PIXELS = 1 << 18
MAX_STRIPES = 2
_BYTE_TABLE = CdfTables.uniform(256)
_CHUNK = 1 << 20  # bytes moved through the entropy coder per call
DTYPE_BITS = {"uint8": 8, "uint16": 16}


def stripes_for(height: int, width: int) -> int:
    return min(MAX_STRIPES, height) if height * width >= STRIPE_PIXELS else 1


def threads() -> int:
    """Two threads when the machine has them: stripes are independent, so the result does not depend on this."""
    return max(1, min(MAX_STRIPES, os.cpu_count() or 1))


def encode_image(img: np.ndarray, sink) -> dict[str, bytes]:
    """Code `img` (uint8 or uint16; (H, W) or (H, W, C) with C <= 4); returns the header params."""
    bits = DTYPE_BITS.get(str(img.dtype))
    if bits is None:
        raise MediaError(f"lossless images must be uint8 or uint16, got {img.dtype}")
    planes = img.reshape(img.shape[0], img.shape[1], -1).astype(np.uint16)
    stripes = _cmimage.encode(planes, bits, stripes_for(img.shape[0], img.shape[1]), threads())
    for number, data in enumerate(stripes):
        stream = 0 if number == 0 else sink.add_stream()
        values = np.frombuffer(data, dtype=np.uint8)
        for start in range(0, values.size, _CHUNK):
            sink.write(values[start:start + _CHUNK], _BYTE_TABLE, stream=stream)
    sizes = np.array([len(s) for s in stripes], dtype="<u8")
    return {"stripe_bytes": sizes.tobytes()}


def decode_image(shape: tuple[int, ...], dtype: str, params: dict, source) -> np.ndarray:
    bits = DTYPE_BITS.get(dtype)
    if bits is None or len(shape) not in (2, 3) or (len(shape) == 3 and not 1 <= shape[2] <= 4) or 0 in shape:
        raise MediaError(f"lossless image codec cannot produce {dtype} of shape {shape}")
    height, width = shape[:2]
    channels = 1 if len(shape) == 2 else shape[2]
    sizes = params.get("stripe_bytes")
    if not isinstance(sizes, bytes) or len(sizes) % 8 or len(sizes) // 8 != stripes_for(height, width):
        raise FormatError("invalid lossless image header (stripe sizes)")
    sizes = np.frombuffer(sizes, dtype="<u8").tolist()
    rows = [(height * s // len(sizes), height * (s + 1) // len(sizes)) for s in range(len(sizes))]
    for number, (size, (top, bottom)) in enumerate(zip(sizes, rows)):
        # Refuse before allocating: the claimed bytes must be in the container stream (one symbol per byte, plus
        # the coder's flush), and the stripe's samples must fit in those bytes.
        if size > source.stream_bytes(number) + 64:
            raise FormatError(f"image stripe {number} claims {size} bytes; its stream holds fewer")
        if (bottom - top) * width * channels > _cmimage.max_samples(size):
            raise FormatError(f"image stripe {number} is too short for {bottom - top} rows of {width} pixels")
    data = []
    for number, size in enumerate(sizes):
        parts = [source.read(_BYTE_TABLE, count=min(_CHUNK, size - start), stream=number).astype(np.uint8)
                 for start in range(0, size, _CHUNK)]
        data.append(b"".join(p.tobytes() for p in parts))
    try:
        planes = _cmimage.decode(data, height, width, channels, bits, threads())
    except ValueError as exc:
        raise FormatError(f"damaged lossless image stream ({exc})") from None
    out = planes.astype(np.uint8) if bits == 8 else planes
    return out.reshape(shape)
