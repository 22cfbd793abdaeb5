"""The codec contract (a plugin's Transform) and the symbol sink/source it writes to and reads from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from . import limits
from .container import HASH_BYTES, Header, ParamValue
from .errors import FormatError, UnsupportedError
from .media import Media

if TYPE_CHECKING:
    from rcodec.entropy import CdfTables, EntropyCoder


@dataclass
class Option:
    """A codec parameter a user can set: `-p name=value` on the command line (or `flag`, where the codec declares
    one), a keyword to `rcodec.encode` / `rcodec.decode`. `rcodec codecs ID` lists a codec's options, and the
    command line builds its flags from them: the core names no codec's parameter.

    `choices` or `range` (inclusive bounds) restrict the value; `name` is filled in from the key of the codec's
    `options` or `decode_options` dict."""

    type: type
    default: Any
    help: str
    choices: tuple | None = None
    range: tuple[float, float] | None = None
    flag: str | None = None  # a command-line flag for this option, e.g. "--target-psnr" (a bool: an on-switch)
    name: str = ""

    def check(self, codec: str, value: Any) -> Any:
        """`value` converted to the option's type and checked against its choices or range."""
        if isinstance(value, bool) and self.type is not bool:
            raise UnsupportedError(f"{codec}: {self.name} must be {self.type.__name__}, got {value!r}")
        try:
            value = _parse_bool(value) if self.type is bool else self.type(value)
        except (TypeError, ValueError):
            raise UnsupportedError(f"{codec}: {self.name} must be {self.type.__name__}, got {value!r}") from None
        if self.choices is not None and value not in self.choices:
            raise UnsupportedError(f"{codec}: {self.name} must be one of {list(self.choices)}, got {value!r}")
        if self.range is not None and not self.range[0] <= value <= self.range[1]:
            raise UnsupportedError(f"{codec}: {self.name} must be between {self.range[0]:g} and "
                                   f"{self.range[1]:g}, got {value!r}")
        return value


@dataclass(frozen=True)
class HeaderParam:
    """A parameter a codec records in the header: its exact type (bool is not int) and the values it may take.

    Codecs declare theirs in `Codec.header_params`; decode refuses unknown names, other types and values out of
    range before the codec runs, so a forged header cannot reach the decoder with a value it never wrote."""

    type: type
    low: int | float | None = None  # inclusive bounds for int and float; byte length bounds for str and bytes
    high: int | float | None = None
    choices: tuple | None = None
    required: bool = False

    def check(self, name: str, value: Any) -> str | None:
        """None if `value` is acceptable, else the reason it is not."""
        if type(value) is not self.type:
            return f"{name} must be {self.type.__name__}, not {type(value).__name__}"
        if self.choices is not None and value not in self.choices:
            return f"{name}={value!r} is not one of {list(self.choices)}"
        measure = len(value) if isinstance(value, (str, bytes)) else value
        if isinstance(measure, float) and measure != measure:
            return f"{name} is NaN"
        if (self.low is not None and measure < self.low) or (self.high is not None and measure > self.high):
            return f"{name}={value!r} is outside [{self.low}, {self.high}]"
        return None


@dataclass
class EncodeResult:
    """What a codec's encode returns besides the symbols it wrote."""

    params: dict[str, ParamValue] = field(default_factory=dict)  # recorded in the header, given back to decode
    weights_sha256: bytes | None = None
    reconstruction: Media | None = None  # the decoded output, when known at encode time (for the output hash)


class Codec:
    """Base class of every codec. Subclasses set the class attributes and implement encode/decode.

    `decode_options` names the keywords `rcodec.decode(data, **options)` accepts for this codec.
    `header_params` declares every parameter the codec records in the header (`HeaderParam`); when declared, any
    other name is refused. `image_dtypes`: the image sample types the codec codes exactly (lossless codecs; others
    receive 8-bit images).

    `encode` writes every symbol through `sink.write(values, tables, indexes)` (values are int32; tables are
    `rcodec.entropy.CdfTables`); `decode` issues the same sequence of `source.read(tables, indexes)` calls. Tables
    and indexes must be computed identically on both sides from integers only. Any change to the bytes a codec
    writes, or to what it decodes from given bytes, bumps `version`.
    """

    id: ClassVar[str] = ""
    version: ClassVar[int] = 1
    media: ClassVar[tuple[str, ...]] = ("image",)
    lossless: ClassVar[bool] = False
    description: ClassVar[str] = ""
    options: ClassVar[dict[str, Option]] = {}
    decode_options: ClassVar[dict[str, Option]] = {}
    header_params: ClassVar[dict[str, HeaderParam] | None] = None
    image_dtypes: ClassVar[tuple[str, ...]] = ("uint8",)
    # True when the codec codes images of any height and a vertical stack of images splits back into the same
    # items: such a codec writes dataset files (rcodec.dataset), a block of items coded as one tall image.
    stackable: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for table in (cls.options, cls.decode_options):
            for name, option in table.items():
                option.name = option.name or name

    def supports_version(self, version: int) -> bool:
        return version == self.version

    def resolve_params(self, params: dict[str, Any], decoding: bool = False) -> dict[str, Any]:
        """Defaults filled in, types checked, unknown names refused."""
        options = self.decode_options if decoding else self.options
        unknown = set(params) - set(options)
        if unknown:
            known = ", ".join(sorted(options)) or "none"
            what = "decode option" if decoding else "parameter"
            raise UnsupportedError(f"codec {self.id!r} has no {what} {', '.join(sorted(unknown))} (known: {known})")
        out = {}
        for name, opt in options.items():
            value = params.get(name, opt.default)
            out[name] = None if value is None else opt.check(self.id, value)
        return out

    def check_header_params(self, params: dict[str, ParamValue]) -> None:
        """Refuse header parameters the codec does not declare, of the wrong type or out of range."""
        declared = self.header_params
        if declared is None:
            return
        problems = [f"unknown parameter {name!r}" for name in sorted(set(params) - set(declared))]
        problems += [f"missing parameter {name!r}" for name, p in declared.items() if p.required and name not in params]
        problems += [reason for name, value in sorted(params.items()) if name in declared
                     for reason in [declared[name].check(name, value)] if reason]
        if problems:
            raise FormatError(f"invalid {self.id} header: {'; '.join(problems)}")

    def partial(self, options: dict[str, Any]) -> bool:
        """True when these decode options ask for a partial decode (e.g. a progressive codec's preview): not every
        symbol is read and the output is not the encoder's, so the symbols and output hashes are not checked.
        The payload checksum still is."""
        return False

    def encode(self, media: Media, params: dict[str, Any], sink: SymbolSink) -> EncodeResult:
        raise NotImplementedError

    def decode(self, source: SymbolSource, header: Header, options: dict[str, Any]) -> Media:
        """`options`: decode-time settings from the caller (e.g. `weights`, or a codec's preview switch)."""
        raise NotImplementedError


def _parse_bool(value: Any) -> bool:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    return bool(value)


def _values_bytes(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype="<i4").tobytes()


class SymbolSink:
    """Where a codec's encoder writes symbols: one entropy encoder per stream, plus the symbols hash."""

    def __init__(self, coder: EntropyCoder) -> None:
        self._coder = coder
        self._encoders = [coder.encoder()]
        self._hashes = [hashlib.blake2b(digest_size=HASH_BYTES)]

    def add_stream(self) -> int:
        """Open another independent stream (e.g. for slices a decoder may decode in parallel); returns its number."""
        self._encoders.append(self._coder.encoder())
        self._hashes.append(hashlib.blake2b(digest_size=HASH_BYTES))
        return len(self._encoders) - 1

    def write(self, values: np.ndarray, tables: CdfTables, indexes: np.ndarray | None = None, stream: int = 0) -> None:
        values = np.ascontiguousarray(values, dtype=np.int32).ravel()
        if indexes is not None:
            indexes = np.ascontiguousarray(indexes, dtype=np.int32).ravel()
            if indexes.size != values.size:
                raise ValueError(f"{values.size} values but {indexes.size} table indexes")
        self._encoders[stream].encode(values, tables, indexes)
        self._hashes[stream].update(_values_bytes(values))

    def finish(self) -> tuple[list[bytes], bytes]:
        streams = [e.finish() for e in self._encoders]
        return streams, _combine(self._hashes)


class SymbolSource:
    """Where a codec's decoder reads symbols back, in the order they were written per stream.

    Every read is charged the least information its symbols can carry (`limits.min_bits_per_symbol` of the
    tables' most probable symbol); a stream asked for more than its bytes can hold is refused, so that a forged
    header cannot make a decoder loop on an exhausted stream. Decoders also call `require` before allocating.
    """

    def __init__(self, coder: EntropyCoder, streams: list[bytes]) -> None:
        if not streams:
            raise FormatError("the file holds no entropy-coded stream")
        self._decoders = [coder.decoder(s) for s in streams]
        self._sizes = [len(s) for s in streams]
        self._hashes = [hashlib.blake2b(digest_size=HASH_BYTES) for _ in streams]
        self._budget = [8.0 * len(s) + limits.CODER_SLACK_BITS for s in streams]
        self.payload_bytes = sum(len(s) for s in streams)

    def require(self, symbols: int, bits_per_symbol: float, what: str) -> None:
        """Refuse before allocating: `symbols` symbols of at least `bits_per_symbol` bits each must fit the
        payload."""
        limits.check_payload(symbols, bits_per_symbol, self.payload_bytes, what)

    @property
    def stream_count(self) -> int:
        return len(self._decoders)

    def stream_bytes(self, stream: int = 0) -> int:
        """Size of a coded stream: lets a decoder check a header's claims before allocating for them."""
        if not 0 <= stream < len(self._sizes):
            raise FormatError(f"the file has no stream {stream}")
        return self._sizes[stream]

    def read(self, tables: CdfTables, indexes: np.ndarray | None = None, count: int | None = None,
             stream: int = 0) -> np.ndarray:
        if not 0 <= stream < len(self._decoders):
            raise FormatError(f"the file has no stream {stream}")
        n = len(indexes) if indexes is not None else (count or 0)
        self._budget[stream] -= n * _least_bits(tables)
        if self._budget[stream] < 0:
            raise FormatError(f"stream {stream} is too short for the symbols its header asks for (damaged or forged "
                              "file)")
        values = self._decoders[stream].decode(tables, indexes, count)
        self._hashes[stream].update(_values_bytes(values))
        return values

    def symbols_hash(self) -> bytes:
        return _combine(self._hashes)


def _least_bits(tables: CdfTables) -> float:
    """The fewest bits any symbol of these tables costs, with a margin for coders that requantize the tables."""
    cached = tables._cache.get("least_bits")
    if cached is None:
        cdf = np.asarray(tables.cdf, dtype=np.int64)
        widest = int(np.diff(cdf, axis=1).max()) if cdf.size and cdf.shape[1] > 1 else 1 << tables.precision
        total = 1 << tables.precision
        cached = 0.0 if widest >= total else -0.9 * float(np.log2(widest / total))
        tables._cache["least_bits"] = cached
    return cached


def _combine(hashes: list) -> bytes:
    return hashlib.blake2b(b"".join(h.digest() for h in hashes), digest_size=HASH_BYTES).digest()
