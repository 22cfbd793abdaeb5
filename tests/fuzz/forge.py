"""Edit .rcz files the way a forger (or a fuzzer) would: change header fields or bytes, then recompute every CRC so
that the edit reaches the decoder instead of stopping at a checksum."""

from __future__ import annotations

import struct
import zlib

from rcodec import container


def fix_crcs(data: bytes) -> bytes:
    """Recompute the header CRC and the footer CRC of a (possibly edited) file; bytes that do not parse that far
    are returned as they are."""
    if len(data) < container.PREFIX_BYTES + 4 or data[:8] != container.MAGIC:
        return data
    major, minor, flags, body_len = struct.unpack("<BBHI", data[8:16])
    end = container.PREFIX_BYTES + body_len
    if end + 4 > len(data):
        return data
    data = data[:end] + struct.pack("<I", zlib.crc32(data[:end])) + data[end + 4 :]
    footer = len(data) - container.FOOTER_BYTES
    if footer < end + 4:
        return data
    payload = data[end + 4 : footer]
    hashes = data[footer + 4 : footer + 4 + 2 * container.HASH_BYTES]
    crc = zlib.crc32(payload)
    if flags & container.FLAG_BOUND:
        crc = zlib.crc32(hashes, crc)
    return data[:footer] + struct.pack("<I", crc) + data[footer + 4 :]


def reheader(data: bytes, **changes) -> bytes:
    """The same file with header fields changed (`shape=...`, `sample_rate=...`, `params=...`), CRCs recomputed,
    the stored hashes left as they were (only a decoder can recompute those)."""
    c = container.read(data)
    h = c.header
    for key, value in changes.items():
        setattr(h, key, value)
    body = container._header_body(h)
    _, minor, flags = data[8], data[9], struct.unpack("<H", data[10:12])[0]
    head = container.MAGIC + struct.pack("<BBHI", data[8], minor, flags, len(body)) + body
    _, _, start = container.read_header(data)
    return fix_crcs(head + b"\0\0\0\0" + data[start:])
