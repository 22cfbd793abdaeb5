"""Lossless video: each frame through the image coder, either as it is (intra) or as its difference from the
previous frame (inter, coded as the uint8 image (frame - previous + 128) mod 256, exactly invertible).

The encoder picks per frame by a cheap estimate (mean absolute temporal difference against mean absolute
horizontal gradient) and sends the choice as one symbol; the decoder needs no estimate.
"""

from __future__ import annotations

import numpy as np

from rcodec import MediaError
from rcodec.entropy import CdfTables

from .image import decode_image, encode_image

_MODE_TABLE = CdfTables.uniform(2)
INTRA, INTER = 0, 1


def _prefers_inter(frame: np.ndarray, previous: np.ndarray) -> bool:
    temporal = np.abs(frame.astype(np.int16) - previous).mean()
    spatial = np.abs(np.diff(frame.astype(np.int16), axis=1)).mean()
    return bool(temporal < spatial)


def _difference(frame: np.ndarray, previous: np.ndarray) -> np.ndarray:
    return ((frame.astype(np.int16) - previous + 128) & 255).astype(np.uint8)


def _undifference(residual: np.ndarray, previous: np.ndarray) -> np.ndarray:
    return ((residual.astype(np.int16) + previous - 128) & 255).astype(np.uint8)


def encode_video(frames: np.ndarray, sink, progress=None) -> None:
    previous = None
    for frame in frames:
        inter = previous is not None and _prefers_inter(frame, previous)
        sink.write(np.array([INTER if inter else INTRA]), _MODE_TABLE)
        encode_image(_difference(frame, previous) if inter else frame, sink)
        previous = frame
        if progress is not None:
            progress.update(1)


def decode_video(shape: tuple[int, ...], source) -> np.ndarray:
    if len(shape) != 4 or shape[3] != 3 or 0 in shape:
        raise MediaError(f"lossless video codec cannot produce shape {shape}")
    frames = np.empty(shape, dtype=np.uint8)
    for t in range(shape[0]):
        mode = int(source.read(_MODE_TABLE, count=1)[0])
        if mode == INTER and t == 0:
            raise MediaError("the first frame of a lossless video cannot refer to a previous one")
        decoded = decode_image(shape[1:], source)
        frames[t] = _undifference(decoded, frames[t - 1]) if mode == INTER else decoded
    return frames
