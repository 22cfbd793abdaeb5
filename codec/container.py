"""The `.rcz` file format: pure Python, no torch, every length checked before anything is allocated.

Layout, little-endian (modelled on PNG, zstd and xz):

    magic        8 bytes  89 52 43 5A 0D 0A 1A 0A   (non-ASCII first byte, CR LF, ^Z, LF: catches text-mode damage)
    major, minor u8, u8    an unknown major version is refused, and so is a minor version newer than this reader's
    flags        u16      bit 0: decoded-output hash present; bit 1 (1.1): header bound (below); all other bits
                          reserved, must be zero
    header_len   u32      bytes of the header body that follows
    header body           codec id + version, coder id + version, weights sha256, parameters (TLV),
                          media kind, shape, dtype, sample rate, original format, original size,
                          (1.1) layout (TLV, like the parameters: image mode, palette, frames)
    header CRC32 u32      over magic .. end of header body
    streams      u16 count, then per stream u32 length + bytes
    chunks       u16 count, then per chunk 4-byte tag + u32 length + bytes (skippable metadata)
    footer       payload CRC32 (u32, over streams and chunks), symbols hash (16 bytes, BLAKE2b of every
                 entropy-decoded value), output hash (16 bytes, BLAKE2b of the decoded media; zeros if absent),
                 end magic "RCZ!"

Version 1.1 binds the header: the stored symbols hash is BLAKE2b("symbols" + header bytes + hash of the
symbols), the stored output hash likewise over the header bytes and the hash of the decoded media, and the footer
CRC covers both hashes. Any edit of a field that shapes the output (shape, dtype, sample rate, original format,
parameters, layout, versions) is refused even when the header CRC was recomputed. A reader older than 1.1 refuses
such files (unknown flag) rather than decode them without their layout. Files of version 1.0 decode as before.

The symbols hash is always strict: entropy-decoded values must be identical everywhere. The output hash is strict
for lossless codecs; for lossy ones `rcodec test` reports a mismatch (float synthesis may differ by one level on
another machine) without failing.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, field

from . import limits
from .errors import ChecksumError, FormatError, UnsupportedError

MAGIC = b"\x89RCZ\r\n\x1a\n"
END_MAGIC = b"RCZ!"
MAJOR, MINOR = 1, 1
FLAG_OUTPUT_HASH = 1
FLAG_BOUND = 2  # 1.1: layout section; header bound into both hashes; footer CRC covers the hashes
KNOWN_FLAGS = FLAG_OUTPUT_HASH | FLAG_BOUND
HASH_BYTES = 16
FOOTER_BYTES = 4 + HASH_BYTES + HASH_BYTES + len(END_MAGIC)
PREFIX_BYTES = len(MAGIC) + 2 + 2 + 4

MEDIA_KINDS = {1: "image", 2: "audio", 3: "jpeg", 4: "video"}  # jpeg: a JPEG file's exact bytes
MEDIA_CODES = {v: k for k, v in MEDIA_KINDS.items()}
MAX_HEADER_BYTES = limits.MAX_HEADER_BYTES
MAX_STREAMS = limits.MAX_STREAMS
MAX_CHUNKS = limits.MAX_CHUNKS
MAX_DIMS = limits.MAX_DIMS
MAX_PARAMS = limits.MAX_PARAMS

# Parameter value types in the TLV list.
_T_INT, _T_FLOAT, _T_STR, _T_BYTES, _T_BOOL = 1, 2, 3, 4, 5

ParamValue = int | float | str | bytes | bool


@dataclass
class Header:
    codec: str
    codec_version: int
    coder: str
    coder_version: int
    media: str
    shape: tuple[int, ...]
    dtype: str
    sample_rate: int = 0
    original_format: str = ""
    original_size: int = 0
    weights_sha256: bytes = b"\0" * 32
    params: dict[str, ParamValue] = field(default_factory=dict)
    layout: dict[str, ParamValue] = field(default_factory=dict)


@dataclass
class Container:
    """`symbols_hash` and `output_hash`: as stored (bound to the header in 1.1 files). `write` takes the plain
    hashes and binds them; a reader compares its plain hashes through `expected_symbols` / `expected_output`."""

    header: Header
    streams: list[bytes]
    symbols_hash: bytes
    output_hash: bytes | None = None
    chunks: list[tuple[bytes, bytes]] = field(default_factory=list)
    header_bytes: bytes = b""  # magic .. end of the header body, as read
    bound: bool = False

    def expected_symbols(self, plain: bytes) -> bytes:
        return _bind(b"symbols", self.header_bytes, plain) if self.bound else plain

    def expected_output(self, plain: bytes) -> bytes:
        return _bind(b"output", self.header_bytes, plain) if self.bound else plain


def _bind(what: bytes, header_bytes: bytes, plain: bytes) -> bytes:
    return digest(what + struct.pack("<I", len(header_bytes)) + header_bytes + plain)


def digest(data: bytes | memoryview) -> bytes:
    """The 16-byte hash used for symbols and decoded output."""
    return hashlib.blake2b(data, digest_size=HASH_BYTES).digest()


# --- writing -----------------------------------------------------------------------------------------------------

def _str(s: str) -> bytes:
    raw = s.encode("utf-8")
    if len(raw) > 255:
        raise ValueError(f"string too long for the header: {s[:40]!r}...")
    return struct.pack("<B", len(raw)) + raw


def _param(key: str, value: ParamValue) -> bytes:
    if isinstance(value, bool):
        body = struct.pack("<BI", _T_BOOL, 1) + bytes([value])
    elif isinstance(value, int):
        body = struct.pack("<BIq", _T_INT, 8, value)
    elif isinstance(value, float):
        body = struct.pack("<BId", _T_FLOAT, 8, value)
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        body = struct.pack("<BI", _T_STR, len(raw)) + raw
    elif isinstance(value, bytes):
        body = struct.pack("<BI", _T_BYTES, len(value)) + value
    else:
        raise TypeError(f"parameter {key!r} has unsupported type {type(value).__name__}")
    return _str(key) + body


def _header_body(h: Header) -> bytes:
    if len(h.weights_sha256) != 32:
        raise ValueError("weights_sha256 must be 32 bytes")
    if len(h.shape) > MAX_DIMS or len(h.params) > MAX_PARAMS or len(h.layout) > MAX_PARAMS:
        raise ValueError("too many dimensions or parameters")
    parts = [
        _str(h.codec), struct.pack("<H", h.codec_version),
        _str(h.coder), struct.pack("<H", h.coder_version),
        h.weights_sha256,
        struct.pack("<H", len(h.params)), *(_param(k, v) for k, v in sorted(h.params.items())),
        struct.pack("<BB", MEDIA_CODES[h.media], len(h.shape)), *(struct.pack("<I", d) for d in h.shape),
        _str(h.dtype), struct.pack("<I", h.sample_rate), _str(h.original_format), struct.pack("<Q", h.original_size),
        struct.pack("<H", len(h.layout)), *(_param(k, v) for k, v in sorted(h.layout.items())),
    ]
    return b"".join(parts)


def write(c: Container) -> bytes:
    body = _header_body(c.header)
    flags = FLAG_BOUND | (FLAG_OUTPUT_HASH if c.output_hash is not None else 0)
    header_bytes = MAGIC + struct.pack("<BBHI", MAJOR, MINOR, flags, len(body)) + body
    head = header_bytes + struct.pack("<I", zlib.crc32(header_bytes))
    if len(c.streams) > MAX_STREAMS or len(c.chunks) > MAX_CHUNKS:
        raise ValueError("too many streams or chunks")
    payload = [struct.pack("<H", len(c.streams))]
    for s in c.streams:
        payload += [struct.pack("<I", len(s)), s]
    payload.append(struct.pack("<H", len(c.chunks)))
    for tag, data in c.chunks:
        if len(tag) != 4:
            raise ValueError("chunk tags are 4 bytes")
        payload += [tag, struct.pack("<I", len(data)), data]
    payload_bytes = b"".join(payload)
    hashes = _bind(b"symbols", header_bytes, c.symbols_hash)
    hashes += _bind(b"output", header_bytes, c.output_hash) if c.output_hash is not None else b"\0" * HASH_BYTES
    footer = struct.pack("<I", zlib.crc32(payload_bytes + hashes)) + hashes
    return head + payload_bytes + footer + END_MAGIC


# --- reading -----------------------------------------------------------------------------------------------------

class _Reader:
    """Bounds-checked cursor: every read names what it was reading when the data runs out."""

    def __init__(self, data: bytes | memoryview, what: str) -> None:
        self.data, self.pos, self.what = memoryview(data), 0, what

    def take(self, n: int, field_name: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError(f"truncated {self.what}: {field_name} needs {n} bytes, {len(self.data) - self.pos} left")
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def unpack(self, fmt: str, field_name: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), field_name))

    def string(self, field_name: str) -> str:
        (n,) = self.unpack("<B", field_name)
        try:
            return self.take(n, field_name).decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"{field_name} is not valid UTF-8") from None

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos


def _read_params(r: _Reader, what: str, strict: bool) -> dict[str, ParamValue]:
    (count,) = r.unpack("<H", f"{what} count")
    if count > MAX_PARAMS:
        raise FormatError(f"{count} {what}s is more than the format allows")
    out: dict[str, ParamValue] = {}
    for _ in range(count):
        key, value = _read_param(r, what, strict)
        if strict and (key in out or (out and key < max(out))):
            raise FormatError(f"{what} {key!r} is repeated or out of order")
        out[key] = value
    return out


def _read_param(r: _Reader, what: str = "parameter", strict: bool = False) -> tuple[str, ParamValue]:
    key = r.string(f"{what} name")
    kind, length = r.unpack("<BI", f"{what} {key!r}")
    if strict and length > limits.MAX_PARAM_BYTES:
        raise FormatError(f"{what} {key!r} of {length} bytes is longer than the format allows")
    raw = r.take(length, f"{what} {key!r}")
    if kind == _T_INT and length == 8:
        return key, struct.unpack("<q", raw)[0]
    if kind == _T_FLOAT and length == 8:
        return key, struct.unpack("<d", raw)[0]
    if kind == _T_BOOL and length == 1 and raw[0] in (0, 1):
        return key, bool(raw[0])
    if kind == _T_STR:
        try:
            return key, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"parameter {key!r} is not valid UTF-8") from None
    if kind == _T_BYTES:
        return key, raw
    raise FormatError(f"parameter {key!r} has an invalid type code {kind} or length {length}")


def read_header(data: bytes | memoryview) -> tuple[Header, int, int]:
    """Parse and verify the header. Returns (header, flags, offset of the payload)."""
    data = memoryview(data)
    if len(data) < len(MAGIC) or bytes(data[: len(MAGIC)]) != MAGIC:
        if bytes(data[:4]) == MAGIC[:4]:
            raise FormatError("damaged .rcz signature (the file was probably transferred in text mode)")
        raise FormatError("not an .rcz file (wrong magic bytes)")
    r = _Reader(data, "header")
    r.take(len(MAGIC), "magic")
    major, minor, flags, body_len = r.unpack("<BBHI", "version and header length")
    if major != MAJOR:
        raise UnsupportedError(f"file format version {major}.{minor} is not supported (this rcodec reads {MAJOR}.x)")
    if minor > MINOR:
        raise UnsupportedError(f"file format version {major}.{minor} is newer than this rcodec ({MAJOR}.{MINOR})")
    if body_len > MAX_HEADER_BYTES or body_len + 4 > r.remaining:
        raise FormatError(f"header length {body_len} exceeds the file (truncated or damaged)")
    body_end = r.pos + body_len
    (stored_crc,) = struct.unpack("<I", bytes(data[body_end : body_end + 4]))
    if zlib.crc32(data[:body_end]) != stored_crc:
        raise FormatError("header checksum mismatch (the file is damaged)")
    if flags & ~KNOWN_FLAGS:
        raise UnsupportedError(f"unknown header flags 0x{flags:04x} (written by a newer rcodec?)")
    bound = bool(flags & FLAG_BOUND)
    if bound != (minor >= 1):
        raise FormatError(f"header flags 0x{flags:04x} do not fit format version {major}.{minor}")
    body = _Reader(data[r.pos : body_end], "header")
    codec = body.string("codec id")
    (codec_version,) = body.unpack("<H", "codec version")
    coder = body.string("coder id")
    (coder_version,) = body.unpack("<H", "coder version")
    weights = body.take(32, "weights sha256")
    params = _read_params(body, "parameter", bound)
    kind, ndim = body.unpack("<BB", "media kind")
    if kind not in MEDIA_KINDS or ndim > MAX_DIMS:
        raise FormatError(f"unknown media kind {kind} or {ndim} dimensions")
    shape = tuple(body.unpack("<I", "shape")[0] for _ in range(ndim))
    dtype = body.string("dtype")
    (sample_rate,) = body.unpack("<I", "sample rate")
    original_format = body.string("original format")
    (original_size,) = body.unpack("<Q", "original size")
    layout = _read_params(body, "layout field", True) if bound else {}
    if body.remaining:
        raise FormatError("unexpected bytes at the end of the header")
    header = Header(codec, codec_version, coder, coder_version, MEDIA_KINDS[kind], shape, dtype, sample_rate,
                    original_format, original_size, weights, params, layout)
    return header, flags, body_end + 4


def read(data: bytes | memoryview) -> Container:
    """Parse a whole .rcz file, verifying header CRC, lengths and the payload CRC."""
    data = memoryview(data)
    header, flags, start = read_header(data)
    if len(data) - start < FOOTER_BYTES:
        raise FormatError("truncated file: the footer is missing")
    if bytes(data[-len(END_MAGIC) :]) != END_MAGIC:
        raise FormatError("truncated or damaged file: end marker missing")
    footer_start = len(data) - FOOTER_BYTES
    payload = data[start:footer_start]
    r = _Reader(payload, "payload")
    (n_streams,) = r.unpack("<H", "stream count")
    if n_streams > MAX_STREAMS:
        raise FormatError(f"{n_streams} streams is more than the format allows")
    streams = []
    for i in range(n_streams):
        (length,) = r.unpack("<I", f"stream {i} length")
        streams.append(r.take(length, f"stream {i}"))
    (n_chunks,) = r.unpack("<H", "chunk count")
    if n_chunks > MAX_CHUNKS:
        raise FormatError(f"{n_chunks} chunks is more than the format allows")
    chunks = []
    for i in range(n_chunks):
        tag = r.take(4, f"chunk {i} tag")
        (length,) = r.unpack("<I", f"chunk {i} length")
        chunks.append((tag, r.take(length, f"chunk {i}")))
    if r.remaining:
        raise FormatError("unexpected bytes between the streams and the footer")
    footer = _Reader(data[footer_start:], "footer")
    (payload_crc,) = footer.unpack("<I", "payload checksum")
    symbols_hash = footer.take(HASH_BYTES, "symbols hash")
    output_hash = footer.take(HASH_BYTES, "output hash")
    bound = bool(flags & FLAG_BOUND)
    covered = zlib.crc32(payload)
    if bound:
        covered = zlib.crc32(symbols_hash + output_hash, covered)
    if covered != payload_crc:
        raise ChecksumError("payload checksum mismatch (the compressed data is damaged)")
    if bound and not flags & FLAG_OUTPUT_HASH and any(output_hash):
        raise FormatError("an output hash is stored, but the flags say there is none")
    return Container(header, streams, symbols_hash, output_hash if flags & FLAG_OUTPUT_HASH else None, chunks,
                     bytes(data[: start - 4]), bound)
