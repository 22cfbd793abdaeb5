"""Encode and decode: media -> codec -> entropy coder -> container, and back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import container, limits
from .codec import SymbolSink, SymbolSource
from .container import Container, Header
from .dataset import is_stack_shape
from .errors import ChecksumError, FormatError, MediaError, RcodecError, UnsupportedError
from .media import Audio, Media, for_codec, from_object
from .registry import get_registry

DEFAULT_CODEC = "lossless"


@dataclass
class DecodeReport:
    """What a decode found besides the media: whether the decoded output matched the encoder's hash."""

    output_hash_present: bool
    output_hash_matches: bool | None
    lossless: bool
    header_bound: bool = True  # format 1.1: the hashes cover the header, so a mismatch cannot be an edited header
    partial: bool = False  # a partial decode (e.g. a progressive codec's preview): not the encoder's output


def prepare(media: Media, codec: str | None = None, coder: str | None = None, name: str = "input",
            **params: Any) -> tuple[Media, Any, Any, dict[str, Any]]:
    """Everything that can refuse an encode, before any coding work: (media as the codec takes it, codec, coder,
    resolved parameters). A stack of images (dataset file) takes `block=`, its items per coded block."""
    from .jpegfile import route

    if media.stack:
        from .dataset import prepare_stack

        return prepare_stack(media, codec, coder, **params)

    media, codec = route(media, codec)  # JPEG files: exact recompression by default
    registry = get_registry()
    codec_obj = registry.codec(codec or DEFAULT_CODEC)
    if media.kind not in codec_obj.media:
        handled = ", ".join(codec_obj.media)
        raise MediaError(f"codec {codec_obj.id!r} does not handle {media.kind} (it handles {handled})")
    if media.kind == "image" and media.dtype not in codec_obj.image_dtypes:
        raise MediaError(f"codec {codec_obj.id!r} takes {' or '.join(codec_obj.image_dtypes)} images, "
                         f"not {media.dtype}")
    coder_obj = registry.coder(coder)
    resolved = codec_obj.resolve_params(params)
    media = for_codec(media, codec_obj.lossless, codec_obj.image_dtypes, codec_obj.id, name)
    return media, codec_obj, coder_obj, resolved


def encode_media(media: Media, codec: str | None = None, coder: str | None = None, **params: Any) -> bytes:
    media, codec_obj, coder_obj, resolved = prepare(media, codec, coder, **params)
    return encode_prepared(media, codec_obj, coder_obj, resolved)


def encode_prepared(media: Media, codec_obj: Any, coder_obj: Any, resolved: dict[str, Any]) -> bytes:
    if media.stack:
        from .dataset import encode_stack

        return encode_stack(media, codec_obj, coder_obj, resolved)
    sink = SymbolSink(coder_obj)
    result = codec_obj.encode(media, resolved, sink)
    streams, symbols_hash = sink.finish()
    reconstruction = media if codec_obj.lossless else result.reconstruction
    header_params = dict(result.params)
    if media.kind == "video":  # the frame rate travels in the header, whatever the codec (which declares it)
        from .videofile import FRAME_RATE_KEY, parse_frame_rate

        header_params[FRAME_RATE_KEY] = str(parse_frame_rate(media.extra.get(FRAME_RATE_KEY)))
    header = Header(
        codec=codec_obj.id, codec_version=codec_obj.version, coder=coder_obj.id, coder_version=coder_obj.version,
        media=media.kind, shape=media.shape, dtype=media.dtype, sample_rate=media.sample_rate,
        original_format=media.original_format, original_size=media.original_size,
        weights_sha256=result.weights_sha256 or b"\0" * 32, params=header_params,
        layout=media.layout if media.kind == "image" else {},
    )
    codec_obj.check_header_params(header_params)  # a codec must write only what its decoder accepts
    output_hash = container.digest(reconstruction.canonical_bytes()) if reconstruction is not None else None
    return container.write(Container(header, streams, symbols_hash, output_hash))


def check_header(h: Header, items: bool = False) -> None:
    """Refuse header facts no encoder writes, before any codec runs (the codec checks its own parameters).
    `items`: the file holds an item index (a dataset file), so the shape is a stack (N, H, W[, C])."""
    from . import imagefile

    shape = h.shape
    if any(d < 1 for d in shape):
        raise FormatError(f"invalid {h.media} shape {shape}")
    if items:
        from .dataset import is_stack_shape

        if h.media != "image" or h.dtype != "uint8" or not is_stack_shape(shape) or (
                len(shape) == 4 and shape[3] not in (3, 4)) or h.layout:
            raise FormatError(f"invalid dataset header: {h.media} of shape {shape}, dtype {h.dtype}")
        limits.check_count(shape[0], limits.MAX_DATASET_ITEMS, "dataset items", FormatError)
        limits.check_count(shape[1] * shape[2], limits.MAX_IMAGE_PIXELS, "pixels of one item", FormatError)
        return
    if h.media == "image":
        if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (3, 4)) or h.dtype not in ("uint8",
                                                                                                       "uint16"):
            raise FormatError(f"invalid image header: shape {shape}, dtype {h.dtype}")
        if shape[0] * shape[1] > limits.MAX_IMAGE_PIXELS * limits.MAX_FRAMES:
            raise FormatError(f"an image of shape {shape} is larger than rcodec allows")
        if h.layout:
            imagefile.check_layout(shape, h.dtype, h.layout)
        elif h.dtype != "uint8":
            raise FormatError(f"a {h.dtype} image without its layout")
    elif h.media == "jpeg":
        from .jpegfile import MAX_JPEG_BYTES

        if len(shape) != 1 or h.dtype != "uint8" or shape[0] > MAX_JPEG_BYTES or h.layout:
            raise FormatError(f"invalid JPEG file header: shape {shape}, dtype {h.dtype}")
    elif h.media == "video":
        from .videofile import FRAME_RATE_KEY, check_size, parse_frame_rate

        if len(shape) != 4 or shape[3] != 3 or h.dtype != "uint8" or h.layout or h.sample_rate:
            raise FormatError(f"invalid video header: shape {shape}, dtype {h.dtype}")
        check_size(shape[0], shape[2], shape[1], FormatError)
        rate = h.params.get(FRAME_RATE_KEY)
        if not isinstance(rate, str):
            raise FormatError("a video header without its frame rate")
        parse_frame_rate(rate, FormatError)
    else:
        if len(shape) != 2 or h.dtype != "float32":
            raise FormatError(f"invalid audio header: shape {shape}, dtype {h.dtype}")
        limits.check_count(shape[1], limits.MAX_AUDIO_CHANNELS, "audio channel count", FormatError)
        limits.check_count(shape[0] * shape[1], limits.MAX_AUDIO_SAMPLES, "audio samples", FormatError)
        if not 1 <= h.sample_rate <= limits.MAX_SAMPLE_RATE:
            raise FormatError(f"invalid sample rate {h.sample_rate}")
        if h.layout:
            raise FormatError("audio has no layout")


def check_versions(h: Header) -> tuple[Any, Any]:
    """The codec and entropy coder that decode a file with this header, or UnsupportedError."""
    registry = get_registry()
    codec_obj = registry.codec(h.codec)
    if not codec_obj.supports_version(h.codec_version):
        raise UnsupportedError(f"the file was written by codec {h.codec!r} version {h.codec_version}; "
                               f"this rcodec has version {codec_obj.version}")
    coder_obj = registry.coder(h.coder)
    if h.coder_version != coder_obj.version:
        raise UnsupportedError(f"the file was written by entropy coder {h.coder!r} version {h.coder_version}; "
                               f"this rcodec has version {coder_obj.version}")
    return codec_obj, coder_obj


def run_decoder(codec_obj: Any, source: SymbolSource, header: Header, resolved: dict[str, Any], what: str,
                data: str) -> Media:
    """`codec_obj.decode`, with its failures as rcodec errors: `what` names the decoded thing in an out-of-memory
    message, `data` the coded data that does not decode."""
    try:
        return codec_obj.decode(source, header, resolved)
    except RcodecError:
        raise
    except MemoryError:
        raise RcodecError(f"decoding {what} needs more memory than is available") from None
    except (ValueError, IndexError, OverflowError) as exc:
        # Damaged data that slipped past the checksums (or a hostile file) must not surface as a crash.
        raise ChecksumError(f"{data} does not decode ({type(exc).__name__}: {exc})") from None


def decode_container(c: Container, **options: Any) -> tuple[Media, DecodeReport]:
    from .dataset import decode_stack, is_dataset

    h = c.header
    items = is_dataset(c)
    check_header(h, items)
    codec_obj, coder_obj = check_versions(h)
    if items:
        # Every hash is checked while decoding (a lossy codec's output mismatch is not fatal, see decode_stack).
        media, matches = decode_stack(c, **options)
        return media, DecodeReport(c.output_hash is not None, matches, codec_obj.lossless, c.bound)
    codec_obj.check_header_params(h.params)
    resolved = codec_obj.resolve_params(options, decoding=True)
    source = SymbolSource(coder_obj, c.streams)
    media = run_decoder(codec_obj, source, h, resolved, f"this {h.media} of shape {h.shape}", "the compressed data")
    partial = codec_obj.partial(resolved)
    if not partial and c.expected_symbols(source.symbols_hash()) != c.symbols_hash:
        raise ChecksumError("entropy-decoded symbols differ from the encoder's (damaged file or header, or decoder "
                            "mismatch)")
    if media.kind != h.media or media.shape != h.shape or media.dtype != h.dtype:
        raise ChecksumError(f"decoded {media.kind} of shape {media.shape}, the header says {h.media} {h.shape}")
    media.original_format, media.original_size = h.original_format, h.original_size
    if h.media == "image":
        media.layout = dict(h.layout)
    if h.media == "video":
        from .videofile import FRAME_RATE_KEY, parse_frame_rate

        media.extra[FRAME_RATE_KEY] = parse_frame_rate(h.params[FRAME_RATE_KEY], FormatError)
    matches = None
    if c.output_hash is not None and not partial:
        matches = c.expected_output(container.digest(media.canonical_bytes())) == c.output_hash
        if not matches and codec_obj.lossless:
            raise ChecksumError("decoded output differs from the original (checksum mismatch)")
    return media, DecodeReport(c.output_hash is not None, matches, codec_obj.lossless, c.bound, partial)


def decode_bytes(data: bytes, **options: Any) -> tuple[Media, DecodeReport]:
    return decode_container(container.read(data), **options)


# --- the public API ----------------------------------------------------------------------------------------------

def encode(x: Any, codec: str | None = None, **params: Any) -> bytes:
    """Compress `x` into .rcz bytes.

    `x`: a path, file bytes (PNG, WAV, MP4, ...), a PIL image, a uint8 array (H, W[, 3|4]) or `rcodec.Audio`; a stack
    of images (N, H, W[, C]), a `.npy` or an MNIST idx file makes a dataset file (see `rcodec.open`), coded in
    blocks of `block=` items (default 4).
    `codec`: a codec id from `rcodec.codecs()` (default: jpeg for a JPEG file, which gives back the same file;
    lossless otherwise). `coder=` picks the entropy coder;
    other keywords are codec parameters, e.g. `quality=3`.
    """
    coder = params.pop("coder", None)
    if isinstance(x, np.ndarray) and is_stack_shape(x.shape):
        from .dataset import check_stack

        return encode_media(Media("image", check_stack(x), stack=True), codec, coder, **params)
    return encode_media(from_object(x), codec, coder, **params)


def decode(data: bytes, **options: Any) -> Any:
    """Decompress .rcz bytes: a uint8 or uint16 numpy array for images (palette images give their indices, LA
    images L, L, L, A and animations their frames stacked vertically: `rcodec.media.Media.layout` says which),
    `rcodec.Audio` for audio, uint8 (T, H, W, 3) frames for video, the file's bytes (uint8) for a JPEG file
    compressed by the `jpeg` codec.

    `options` are the codec's decode options, e.g. `weights=PATH` for a file made with a user checkpoint.
    """
    media, _ = decode_bytes(bytes(data), **options)
    return media.data.tobytes() if media.kind == "jpeg" else media.data


def info(data: bytes) -> dict[str, Any]:
    """Header facts of .rcz bytes without decoding (no torch needed)."""
    from .dataset import has_index

    data = bytes(data)
    h, _, payload_start = container.read_header(data)
    out: dict[str, Any] = {
        "codec": h.codec, "codec_version": h.codec_version, "coder": h.coder, "coder_version": h.coder_version,
        "media": h.media, "shape": list(h.shape), "dtype": h.dtype, "compressed_bytes": len(data),
        "original_format": h.original_format, "original_bytes": h.original_size, "params": dict(h.params),
        "weights_sha256": h.weights_sha256.hex() if any(h.weights_sha256) else None,
    }
    for key, value in out["params"].items():
        if isinstance(value, bytes):
            out["params"][key] = value.hex()
    if h.layout:
        out["layout"] = {k: v.hex() if isinstance(v, bytes) else v for k, v in h.layout.items()}
    pixels = h.shape[0] * h.shape[1] if len(h.shape) >= 2 else 0
    if h.media == "jpeg":
        pixels = int(h.params.get("width", 0)) * int(h.params.get("height", 0))
    if h.media == "image" and len(h.shape) >= 3 and has_index(data, payload_start):
        out["items"] = h.shape[0]
        pixels = h.shape[0] * h.shape[1] * h.shape[2]
    if h.media in ("image", "jpeg"):
        out["bpp"] = 8 * len(data) / pixels if pixels else None
    elif h.media == "video":
        from fractions import Fraction

        from .videofile import FRAME_RATE_KEY, parse_frame_rate

        try:
            rate = parse_frame_rate(h.params.get(FRAME_RATE_KEY), FormatError)
        except FormatError:
            rate = Fraction(0)
        seconds = float(h.shape[0] / rate) if rate > 0 and h.shape else 0.0
        out.update(frame_rate=float(rate), duration_s=seconds, kbps=8 * len(data) / seconds / 1000 if seconds else None)
    else:
        out["sample_rate"] = h.sample_rate
        seconds = h.shape[0] / h.sample_rate if h.sample_rate and h.shape else 0
        out["duration_s"] = seconds
        out["kbps"] = 8 * len(data) / seconds / 1000 if seconds else None
    return out


def codecs() -> list[str]:
    """Ids of every registered codec."""
    return sorted(get_registry().codec_classes())


__all__ = ["Audio", "codecs", "decode", "encode", "info"]
