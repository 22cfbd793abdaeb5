"""The jpeg codec's payload: how a JPEG file becomes bytes and comes back, exactly.

    byte 0   0: stored (the file, xz-compressed: anything the model does not reproduce exactly)
             1: modelled
    modelled: u32 (little-endian) length of the skeleton, the skeleton (raw deflate with a preset dictionary of
              the standard JPEG headers), then the context-coded DCT coefficients (the rest).

The skeleton is every byte of the file except the entropy-coded scan data: markers, tables, EXIF/ICC/comment
segments in their order, and whatever follows EOI.
"""

from __future__ import annotations

import lzma
import struct
import zlib

from rcodec import FormatError

from . import _jpegcm

STORED, MODELLED = 0, 1

# JFIF APP0, the four Huffman tables of ITU T.81 Annex K as libjpeg writes them, and a 3-component SOS header:
# what most skeletons repeat. Part of the format: never change it (add a new payload kind instead).
SKELETON_DICTIONARY = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400"
    "b5100002010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f0243362728209"
    "0a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a8384858687"
    "88898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8"
    "e9eaf1f2f3f4f5f6f7f8f9faffc4001f0100030101010101010101010000000000000102030405060708090a0bffc400b511000201020404"
    "03040705040400010277000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a162434e125f1171819"
    "1a262728292a35363738393a434445464748494a535455565758595a636465666768696a737475767778797a82838485868788898a929394"
    "95969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6"
    "f7f8f9faffda000c03010002110311003f00ffd9"
)


def pack(data: bytes) -> tuple[bytes, dict]:
    """The payload for a JPEG file and facts about it (`modelled` False when it is stored as is, with `reason`)."""
    try:
        skeleton, coded, facts = _jpegcm.analyze(data)
    except _jpegcm.Unsupported as exc:
        return bytes([STORED]) + lzma.compress(data, preset=6), {"modelled": False, "reason": str(exc)}
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=SKELETON_DICTIONARY)
    skeleton_z = deflate.compress(skeleton) + deflate.flush()
    payload = bytes([MODELLED]) + struct.pack("<I", len(skeleton_z)) + skeleton_z + coded
    return payload, {"modelled": True, **facts}


def unpack(payload: bytes, file_size: int) -> bytes:
    """The original file from a payload; `file_size` (from the header) bounds everything that is allocated."""
    if not payload:
        raise FormatError("empty jpeg payload")
    kind = payload[0]
    if kind == STORED:
        try:
            data = lzma.LZMADecompressor().decompress(payload[1:], max_length=file_size + 1)
        except lzma.LZMAError as exc:
            raise FormatError(f"stored JPEG data does not decompress ({exc})") from None
    elif kind == MODELLED:
        if len(payload) < 5:
            raise FormatError("truncated jpeg payload")
        (length,), pos = struct.unpack_from("<I", payload, 1), 5
        if pos + length > len(payload):
            raise FormatError("jpeg skeleton overruns the payload")
        inflate = zlib.decompressobj(-15, zdict=SKELETON_DICTIONARY)
        try:
            skeleton = inflate.decompress(payload[pos:pos + length], file_size + 1)
        except zlib.error as exc:
            raise FormatError(f"jpeg skeleton does not decompress ({exc})") from None
        if len(skeleton) > file_size:
            raise FormatError("jpeg skeleton larger than the file")
        try:
            data = _jpegcm.restore(skeleton, payload[pos + length:], file_size)
        except _jpegcm.Corrupt as exc:
            raise FormatError(f"jpeg data does not decode ({exc})") from None
    else:
        raise FormatError(f"unknown jpeg payload kind {kind}")
    if len(data) != file_size:
        raise FormatError(f"decoded {len(data)} bytes, the header says {file_size}")
    return data

