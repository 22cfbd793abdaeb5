"""Encode and decode: media -> codec -> entropy coder -> container, and back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import container
from .codec import SymbolSink, SymbolSource
from .container import Container, Header
from .errors import ChecksumError, MediaError, RcodecError, UnsupportedError
from .media import Audio, Media, from_object
from .registry import get_registry

DEFAULT_CODEC = "lossless"


@dataclass
class DecodeReport:
    """What a decode found besides the media: whether the decoded output matched the encoder's hash."""

    output_hash_present: bool
    output_hash_matches: bool | None
    lossless: bool


def encode_media(media: Media, codec: str | None = None, coder: str | None = None, **params: Any) -> bytes:
    registry = get_registry()
    codec_obj = registry.codec(codec or DEFAULT_CODEC)
    if media.kind not in codec_obj.media:
        handled = ", ".join(codec_obj.media)
        raise MediaError(f"codec {codec_obj.id!r} does not handle {media.kind} (it handles {handled})")
    coder_obj = registry.coder(coder)
    resolved = codec_obj.resolve_params(params)
    sink = SymbolSink(coder_obj)
    result = codec_obj.encode(media, resolved, sink)
    streams, symbols_hash = sink.finish()
    reconstruction = media if codec_obj.lossless else result.reconstruction
    header = Header(
        codec=codec_obj.id, codec_version=codec_obj.version, coder=coder_obj.id, coder_version=coder_obj.version,
        media=media.kind, shape=media.shape, dtype=media.dtype, sample_rate=media.sample_rate,
        original_format=media.original_format, original_size=media.original_size,
        weights_sha256=result.weights_sha256 or b"\0" * 32, params=result.params,
    )
    output_hash = container.digest(reconstruction.canonical_bytes()) if reconstruction is not None else None
    return container.write(Container(header, streams, symbols_hash, output_hash))


def decode_container(c: Container, **options: Any) -> tuple[Media, DecodeReport]:
    registry = get_registry()
    h = c.header
    codec_obj = registry.codec(h.codec)
    if not codec_obj.supports_version(h.codec_version):
        raise UnsupportedError(f"the file was written by codec {h.codec!r} version {h.codec_version}; "
                               f"this rcodec has version {codec_obj.version}")
    coder_obj = registry.coder(h.coder)
    if h.coder_version != coder_obj.version:
        raise UnsupportedError(f"the file was written by entropy coder {h.coder!r} version {h.coder_version}; "
                               f"this rcodec has version {coder_obj.version}")
    resolved = codec_obj.resolve_params(options, decoding=True)
    source = SymbolSource(coder_obj, c.streams)
    try:
        media = codec_obj.decode(source, h, resolved)
    except RcodecError:
        raise
    except (ValueError, IndexError, OverflowError, MemoryError) as exc:
        # Damaged data that slipped past the checksums (or a hostile file) must not surface as a crash.
        raise ChecksumError(f"the compressed data does not decode ({type(exc).__name__}: {exc})") from None
    partial = codec_obj.partial(resolved)
    if not partial and source.symbols_hash() != c.symbols_hash:
        raise ChecksumError("entropy-decoded symbols differ from the encoder's (damaged file or decoder mismatch)")
    if media.kind != h.media or media.shape != h.shape:
        raise ChecksumError(f"decoded {media.kind} of shape {media.shape}, the header says {h.media} {h.shape}")
    media.original_format, media.original_size = h.original_format, h.original_size
    matches = None
    if c.output_hash is not None and not partial:
        matches = container.digest(media.canonical_bytes()) == c.output_hash
        if not matches and codec_obj.lossless:
            raise ChecksumError("decoded output differs from the original (checksum mismatch)")
    return media, DecodeReport(c.output_hash is not None, matches, codec_obj.lossless)


def decode_bytes(data: bytes, **options: Any) -> tuple[Media, DecodeReport]:
    return decode_container(container.read(data), **options)


# --- the public API ----------------------------------------------------------------------------------------------

def encode(x: Any, codec: str | None = None, **params: Any) -> bytes:
    """Compress `x` into .rcz bytes.

    `x`: a path, file bytes (PNG, WAV, ...), a PIL image, a uint8 array (H, W[, 3|4]) or `rcodec.Audio`.
    `codec`: a codec id from `rcodec.codecs()` (default: lossless). `coder=` picks the entropy coder;
    other keywords are codec parameters, e.g. `quality=3`.
    """
    coder = params.pop("coder", None)
    return encode_media(from_object(x), codec, coder, **params)


def decode(data: bytes, **options: Any) -> Any:
    """Decompress .rcz bytes: a uint8 numpy array for images, `rcodec.Audio` for audio.

    `options` are the codec's decode options, e.g. `weights=PATH` for a file made with a user checkpoint.
    """
    media, _ = decode_bytes(bytes(data), **options)
    return media.data


def info(data: bytes) -> dict[str, Any]:
    """Header facts of .rcz bytes without decoding (no torch needed)."""
    data = bytes(data)
    h, _, _ = container.read_header(data)
    out: dict[str, Any] = {
        "codec": h.codec, "codec_version": h.codec_version, "coder": h.coder, "coder_version": h.coder_version,
        "media": h.media, "shape": list(h.shape), "dtype": h.dtype, "compressed_bytes": len(data),
        "original_format": h.original_format, "original_bytes": h.original_size, "params": dict(h.params),
        "weights_sha256": h.weights_sha256.hex() if any(h.weights_sha256) else None,
    }
    for key, value in out["params"].items():
        if isinstance(value, bytes):
            out["params"][key] = value.hex()
    if h.media == "image":
        out["bpp"] = 8 * len(data) / (h.shape[0] * h.shape[1]) if h.shape[0] * h.shape[1] else None
    else:
        out["sample_rate"] = h.sample_rate
        seconds = h.shape[0] / h.sample_rate if h.sample_rate else 0
        out["duration_s"] = seconds
        out["kbps"] = 8 * len(data) / seconds / 1000 if seconds else None
    return out


def codecs() -> list[str]:
    """Ids of every registered codec."""
    return sorted(get_registry().codec_classes())


__all__ = ["Audio", "codecs", "decode", "encode", "info"]
