"""JPEG files kept as files: the `jpeg` media kind, whose data is the file's bytes (a uint8 array).

The default codec choice sends JPEG input here so that it can be recompressed exactly (the `jpeg` codec) instead
of being decoded to pixels; any other codec still gets the pixels.
"""

from __future__ import annotations

import numpy as np

from .media import Media

JPEG_KIND = "jpeg"
JPEG_CODEC = "jpeg"
FILE_BYTES = "file_bytes"  # Media.extra key: the exact bytes a JPEG image was read from
MAX_JPEG_BYTES = 1 << 30


def is_jpeg(data: bytes) -> bool:
    return data[:3] == b"\xff\xd8\xff"


def route(media: Media, codec: str | None) -> tuple[Media, str | None]:
    """The media and codec to encode with: a JPEG read from a file goes to the `jpeg` codec when no codec (or
    that codec) was asked for."""
    source = media.extra.get(FILE_BYTES)
    if codec in (None, JPEG_CODEC) and media.kind == "image" and source is not None and is_jpeg(source):
        return jpeg_media(source), JPEG_CODEC
    return media, codec


def jpeg_media(data: bytes) -> Media:
    return Media(JPEG_KIND, np.frombuffer(bytes(data), dtype=np.uint8), "JPEG", len(data))

