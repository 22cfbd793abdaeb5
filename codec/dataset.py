"""Dataset files: a stack of N equal-shaped images (N, H, W[, C]) in one `.rcz`, with an item index so that
`rcodec.open(path)[i]` decodes item i without the others.

The items are coded in blocks of `block` consecutive items; a block is coded by the codec as one image, its items
stacked vertically (B*H, W[, C]), which every codec marked `stackable` codes exactly. A block is the unit of
random access: `[i]` decodes the block holding item i. One item per block gives the fastest random access; larger
blocks spread each coded stream's fixed cost (its final coder state) over more items.

Layout inside the ordinary container (no new container version): the header is the codec's, with the shape of the
whole stack; stream 0 holds every block's coded streams back to back; the chunk `ITEM` holds the index:

    u8 index version (1) | varint items per block | varint streams per block | lengths (varints), block by block
    | varint K: parameters that differ between blocks | K x (u8 name length, name, u8 type code)
    | block by block, K x (varint length, value bytes)

The header holds the parameters every block recorded alike; the index holds those that differ (e.g. the lossless
coder's stripe byte counts), so each block is decoded with exactly what its encoder recorded, checked against the
codec's declared header parameters. The symbols hash is the hash of the blocks' symbols hashes in order; the
output hash is that of the whole stack; both are bound to the header like any file's (format 1.1). Both are
checked when the whole file is decoded (iteration, `rcodec.decode`, `rcodec test`). Decoding one item alone
checks the payload CRC (verified when the file is opened), the index and the item's shape.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import container, limits
from .codec import Option, SymbolSink, SymbolSource
from .container import HASH_BYTES, Container, Header, ParamValue
from .errors import ChecksumError, FormatError, MediaError, UnsupportedError
from .media import Media

INDEX_TAG = b"ITEM"
INDEX_VERSION = 1
DEFAULT_BLOCK = 4  # items per block (see README: 4 digits decode in ~1.3x the time of one, at a quarter the cost)
MAX_ITEMS = limits.MAX_DATASET_ITEMS
MAX_STREAMS_PER_BLOCK = limits.MAX_STREAMS_PER_BLOCK
BLOCK = Option(int, DEFAULT_BLOCK, "items per coded block (dataset files)", range=(1, MAX_ITEMS), name="block")


def is_stack_shape(shape: tuple[int, ...]) -> bool:
    """An array shape that is a stack of images rather than one: (N, H, W, C), or (N, H, W) with W > 4 (an
    (H, W, 3) array is an RGB image; stacks of images narrower than 5 pixels are not told apart from those)."""
    return len(shape) == 4 or (len(shape) == 3 and shape[2] > 4)


def check_stack(items: Any) -> np.ndarray:
    array = np.asarray(items)
    if array.dtype != np.uint8:
        raise MediaError(f"dataset items must be uint8 images, got {array.dtype}")
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if not (array.ndim == 3 or (array.ndim == 4 and array.shape[3] in (3, 4))) or not is_stack_shape(array.shape):
        raise MediaError(f"a stack of images has shape (N, H, W) or (N, H, W, 3|4), W > 4; got {array.shape}")
    if min(array.shape) < 1:
        raise MediaError(f"empty stack of shape {array.shape}")
    limits.check_count(array.shape[0], MAX_ITEMS, "dataset items")
    limits.check_count(array.shape[1] * array.shape[2], limits.MAX_IMAGE_PIXELS, "pixels of one item")
    return np.ascontiguousarray(array)


def _blocks(count: int, block: int) -> Iterator[tuple[int, int]]:
    for start in range(0, count, block):
        yield start, min(start + block, count)


def _stackable(codec_id: str | None):
    from .pipeline import DEFAULT_CODEC
    from .registry import get_registry

    codec_obj = get_registry().codec(codec_id or DEFAULT_CODEC)
    if not getattr(codec_obj, "stackable", False) or "image" not in codec_obj.media or (
            "uint8" not in codec_obj.image_dtypes):
        raise UnsupportedError(f"codec {codec_obj.id!r} does not write dataset files (codecs that do: "
                               f"{', '.join(stackable_codecs()) or 'none'})")
    return codec_obj


def stackable_codecs() -> list[str]:
    from .registry import get_registry

    return sorted(cid for cid, (cls, _) in get_registry().codec_classes().items() if getattr(cls, "stackable", False))


def prepare_stack(media: Media, codec: str | None = None, coder: str | None = None, block: int = DEFAULT_BLOCK,
                  **params: Any) -> tuple[Media, Any, Any, dict[str, Any]]:
    """Everything that can refuse encoding a stack, before any coding work (see `pipeline.prepare`)."""
    from .registry import get_registry

    stack = check_stack(media.data)
    codec_obj = _stackable(codec)
    block = BLOCK.check(codec_obj.id, block)  # `-p block=N` on the command line gives a string
    coder_obj = get_registry().coder(coder)
    resolved = codec_obj.resolve_params(params)
    prepared = Media("image", stack, media.original_format, media.original_size, stack=True)
    prepared.extra["block"] = block
    return prepared, codec_obj, coder_obj, resolved


def encode_stack(media: Media, codec_obj: Any, coder_obj: Any, resolved: dict[str, Any]) -> bytes:
    """Compress a prepared stack of images (N, H, W[, C]) into one dataset `.rcz`, `block` items per coded block."""
    stack, block = media.data, media.extra.get("block", DEFAULT_BLOCK)
    assert isinstance(stack, np.ndarray)
    n, h = stack.shape[:2]
    coded: list[bytes] = []
    lengths: list[int] = []
    block_hashes: list[bytes] = []
    block_params: list[dict[str, ParamValue]] = []
    streams_per_block, first = None, None
    output = hashlib.blake2b(digest_size=HASH_BYTES)
    for start, end in _blocks(n, block):
        strip = stack[start:end].reshape((end - start) * h, *stack.shape[2:])
        sink = SymbolSink(coder_obj)
        result = codec_obj.encode(Media("image", strip), resolved, sink)
        streams, symbols_hash = sink.finish()
        codec_obj.check_header_params(result.params)  # a codec must write only what its decoder accepts
        if first is None:
            first, streams_per_block = result, len(streams)
        elif result.weights_sha256 != first.weights_sha256 or set(result.params) != set(first.params):
            raise UnsupportedError(f"codec {codec_obj.id!r} recorded different weights or parameter names for "
                                   "different blocks; a dataset file holds one set")
        if len(streams) != streams_per_block or len(streams) > MAX_STREAMS_PER_BLOCK:
            raise UnsupportedError(f"codec {codec_obj.id!r} wrote {len(streams)} streams for a block, "
                                   f"{streams_per_block} for the first; a dataset file needs the same count")
        coded.extend(streams)
        lengths.extend(len(s) for s in streams)
        block_hashes.append(symbols_hash)
        block_params.append(dict(result.params))
        reconstruction = strip if codec_obj.lossless else (result.reconstruction.data
                                                          if result.reconstruction is not None else None)
        if output is not None and reconstruction is not None:
            output.update(np.ascontiguousarray(reconstruction).tobytes())
        else:
            output = None
    assert first is not None and streams_per_block is not None
    from rcodec import _native

    varying = sorted(k for k in first.params if any(p[k] != first.params[k] or type(p[k]) is not type(
        first.params[k]) for p in block_params))
    index = (bytes([INDEX_VERSION]) + _native.varint_encode(np.array([block, streams_per_block], dtype=np.uint64))
             + _native.varint_encode(np.array(lengths, dtype=np.uint64)) + _varying_params(varying, block_params))
    header = Header(
        codec=codec_obj.id, codec_version=codec_obj.version, coder=coder_obj.id, coder_version=coder_obj.version,
        media="image", shape=tuple(stack.shape), dtype=str(stack.dtype), original_format=media.original_format,
        original_size=media.original_size, weights_sha256=first.weights_sha256 or b"\0" * 32,
        params={k: v for k, v in first.params.items() if k not in varying},
    )
    symbols_hash = container.digest(b"".join(block_hashes))
    return container.write(Container(header, [b"".join(coded)], symbols_hash,
                                     output.digest() if output is not None else None, [(INDEX_TAG, index)]))


def _varying_params(names: list[str], block_params: list[dict[str, ParamValue]]) -> bytes:
    """The index's section of parameters that differ between blocks: names and type codes once, then the values
    block by block (the container's parameter encoding without the name)."""
    from rcodec import _native

    out = [_native.varint_encode(np.array([len(names)], dtype=np.uint64))]
    for name in names:
        out.append(container._param(name, block_params[0][name])[: len(name.encode()) + 2])  # name, type code
    for params in block_params:
        for name in names:
            raw = container._param(name, params[name])[len(name.encode()) + 6 :]
            out += [_native.varint_encode(np.array([len(raw)], dtype=np.uint64)), raw]
    return b"".join(out)


def is_dataset(c: Container) -> bool:
    return any(tag == INDEX_TAG for tag, _ in c.chunks)


def has_index(data: bytes | memoryview, payload_start: int) -> bool:
    """Whether the file holds an item index, found by walking the stream and chunk lengths without reading the
    payload (for `rcodec info`); False where the lengths do not add up (`rcodec test` reports that)."""
    import struct

    data = memoryview(data)
    pos, end = payload_start, len(data) - container.FOOTER_BYTES
    try:
        (n,) = struct.unpack_from("<H", data, pos)
        pos += 2
        for _ in range(n):
            pos += 4 + struct.unpack_from("<I", data, pos)[0]
        (n,) = struct.unpack_from("<H", data, pos)
        pos += 2
        for _ in range(n):
            if pos + 8 > end:
                return False
            if bytes(data[pos : pos + 4]) == INDEX_TAG:
                return True
            pos += 8 + struct.unpack_from("<I", data, pos + 4)[0]
    except struct.error:
        return False
    return False


class Index:
    """The parsed, bounds-checked item index of a dataset container."""

    def __init__(self, c: Container) -> None:
        chunks = [data for tag, data in c.chunks if tag == INDEX_TAG]
        h = c.header
        if len(chunks) != 1:
            raise FormatError(f"a dataset file has one item index, this one has {len(chunks)}")
        if len(c.streams) != 1:
            raise FormatError(f"a dataset file has one stream of blocks, this one has {len(c.streams)}")
        from .pipeline import check_header

        check_header(h, items=True)
        raw = chunks[0]
        if not raw or raw[0] != INDEX_VERSION:
            raise UnsupportedError(f"item index version {raw[0] if raw else None} is not supported "
                                   f"(this rcodec reads {INDEX_VERSION})")
        from rcodec import _native

        try:
            (block, per_block), pos = _native.varint_decode_from(raw, 2, 1)
            self.items = int(h.shape[0])
            self.block, self.per_block = int(block), int(per_block)
            if not (1 <= self.items <= MAX_ITEMS and 1 <= self.block and 1 <= self.per_block <= MAX_STREAMS_PER_BLOCK):
                raise FormatError(f"item index: {self.items} items, {block} per block, {per_block} streams per "
                                  "block is out of range")
            self.blocks = -(-self.items // min(self.block, self.items))
            count = self.blocks * self.per_block
            if count > len(raw) - pos:  # each length takes at least one byte: checked before allocating
                raise FormatError(f"item index: {count} stream lengths do not fit in {len(raw) - pos} bytes")
            lengths, pos = _native.varint_decode_from(raw, count, pos)
        except _native.FormatError as exc:
            raise FormatError(f"item index: {exc}") from None
        stream = c.streams[0]
        if lengths.size and int(lengths.max()) > len(stream):
            raise FormatError("item index: a block is longer than the file's stream")
        self.offsets = np.concatenate([[0], np.cumsum(lengths.astype(np.int64))])
        if int(self.offsets[-1]) != len(stream):
            raise FormatError(f"item index: the blocks take {int(self.offsets[-1])} bytes, the stream holds "
                              f"{len(stream)}")
        self.item_shape = tuple(int(d) for d in h.shape[1:])
        item_bytes = int(np.prod(self.item_shape, dtype=np.int64))
        if min(self.block, self.items) * item_bytes > limits.MAX_BLOCK_BYTES:
            raise UnsupportedError(f"refusing to decode blocks of {self.block} items of {self.item_shape}: too large")
        self.item_bytes = item_bytes
        try:
            self.names, self.block_params = self._read_params(raw, pos)
        except _native.FormatError as exc:
            raise FormatError(f"item index: {exc}") from None

    def _read_params(self, raw: bytes, pos: int) -> tuple[list[tuple[str, int]], list[bytes]]:
        """The names and type codes of the parameters that differ between blocks, and each block's raw values
        (bounds-checked here, parsed and checked against the codec when the block is decoded)."""
        from rcodec import _native

        (count,), pos = _native.varint_decode_from(raw, 1, pos)
        if count > limits.MAX_PARAMS:
            raise FormatError(f"item index: {count} block parameters is more than the format allows")
        names = []
        for _ in range(int(count)):
            if pos >= len(raw) or pos + 2 + raw[pos] > len(raw):
                raise FormatError("item index: truncated block parameter names")
            name_end = pos + 1 + raw[pos]
            try:
                names.append((raw[pos + 1 : name_end].decode("utf-8"), raw[name_end]))
            except UnicodeDecodeError:
                raise FormatError("item index: a block parameter name is not UTF-8") from None
            pos = name_end + 1
        if [n for n, _ in names] != sorted({n for n, _ in names}):
            raise FormatError("item index: block parameter names repeated or out of order")
        values = []
        if names:
            if self.blocks * len(names) > len(raw) - pos:  # each value takes at least one byte
                raise FormatError("item index: the block parameters do not fit in the index")
            for _ in range(self.blocks):
                first = pos
                for _ in names:
                    (size,), pos = _native.varint_decode_from(raw, 1, pos)
                    if size > limits.MAX_PARAM_BYTES or pos + int(size) > len(raw):
                        raise FormatError("item index: a block parameter is longer than the index")
                    pos += int(size)
                values.append(raw[first:pos])
        if pos != len(raw):
            raise FormatError("item index: unexpected bytes after the block parameters")
        return names, values

    def params(self, b: int, common: dict[str, ParamValue]) -> dict[str, ParamValue]:
        """Block b's recorded parameters: the header's, with the block's own values."""
        if not self.names:
            return dict(common)
        from rcodec import _native

        out, raw, pos = dict(common), self.block_params[b], 0
        for name, kind in self.names:
            (size,), pos = _native.varint_decode_from(raw, 1, pos)
            value = raw[pos : pos + int(size)]
            pos += int(size)
            tlv = container._str(name) + struct.pack("<BI", kind, len(value)) + value
            _, out[name] = container._read_param(container._Reader(tlv, "item index"), "block parameter", True)
        return out

    def block_range(self, b: int) -> tuple[int, int]:
        return b * self.block, min((b + 1) * self.block, self.items)


class DatasetFile:
    """A `.rcz` file as a sequence of items: `len()`, iteration and `[i]`, each item a uint8 array (or, for a file
    that holds one image or audio clip, that one item). Opening reads the file and verifies its checksums
    (header and payload CRC); `[i]` decodes only the block holding item i; iteration decodes each block once and
    checks the symbols and output hashes at the end. Keep one per thread."""

    def __init__(self, c: Container, name: str = "data", **options: Any) -> None:
        self.name = name
        self._options = options
        self._container = c
        self.header: Header = c.header
        self._index = Index(self._container) if is_dataset(self._container) else None
        self._cached: tuple[int, np.ndarray, bytes] | None = None  # (block, items, symbols hash): the last block
        self.output_matches: bool | None = None  # after a whole iteration: whether the output hash matched

    @property
    def is_stack(self) -> bool:
        return self._index is not None

    @property
    def item_shape(self) -> tuple[int, ...]:
        return self._index.item_shape if self._index is not None else tuple(self.header.shape)

    def __len__(self) -> int:
        return self._index.items if self._index is not None else 1

    def __getitem__(self, i: int) -> Any:
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"dataset items are indexed by int, not {type(i).__name__}")
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"item {i} of a dataset of {n}")
        i = int(i) % n
        if self._index is None:
            from .pipeline import decode_container

            return decode_container(self._container, **self._options)[0].data
        b = i // self._index.block
        items, _ = self._block(b)
        return items[i - b * self._index.block].copy()

    def __iter__(self) -> Iterator[Any]:
        if self._index is None:
            yield self[0]
            return
        hashes, output = [], hashlib.blake2b(digest_size=HASH_BYTES)
        for b in range(self._index.blocks):
            items, symbols_hash = self._block(b)
            hashes.append(symbols_hash)
            output.update(items.tobytes())
            for item in items:
                yield item.copy()
        self._verify(hashes, output.digest())

    def decode_all(self) -> np.ndarray:
        """The whole stack (N, H, W[, C]), every hash checked."""
        if self._index is None:
            raise FormatError(f"{self.name}: not a dataset file")
        total = self._index.items * self._index.item_bytes
        if total > limits.MAX_STACK_BYTES:
            raise UnsupportedError(f"refusing to decode {total} bytes at once; read the items one by one")
        out = np.empty((self._index.items, *self._index.item_shape), dtype=np.uint8)
        for i, item in enumerate(self):
            out[i] = item
        return out

    def _verify(self, hashes: list[bytes], output_hash: bytes) -> None:
        """Both hashes, bound to the header as in any file of format 1.1; sets `output_matches`."""
        from .registry import get_registry

        c = self._container
        if c.expected_symbols(container.digest(b"".join(hashes))) != c.symbols_hash:
            raise ChecksumError("entropy-decoded symbols differ from the encoder's (damaged file or header, or "
                                "decoder mismatch)")
        if c.output_hash is None:
            return
        self.output_matches = c.expected_output(output_hash) == c.output_hash
        if not self.output_matches and get_registry().codec(self.header.codec).lossless:
            raise ChecksumError("decoded output differs from the original (checksum mismatch)")

    def _block(self, b: int) -> tuple[np.ndarray, bytes]:
        if self._cached is not None and self._cached[0] == b:
            return self._cached[1], self._cached[2]
        from .pipeline import check_versions, run_decoder

        index, h = self._index, self.header
        assert index is not None
        start, end = index.block_range(b)
        rows = (end - start) * index.item_shape[0]
        codec_obj, coder_obj = check_versions(h)
        params = index.params(b, h.params)
        codec_obj.check_header_params(params)
        block_header = Header(h.codec, h.codec_version, h.coder, h.coder_version, h.media,
                              (rows, *index.item_shape[1:]), h.dtype, h.sample_rate, "", 0, h.weights_sha256,
                              params)
        resolved = codec_obj.resolve_params(self._options, decoding=True)
        first = b * index.per_block
        stream = self._container.streams[0]
        streams = [stream[int(index.offsets[k]) : int(index.offsets[k + 1])]
                   for k in range(first, first + index.per_block)]
        source = SymbolSource(coder_obj, streams)
        media = run_decoder(codec_obj, source, block_header, resolved, f"block {b}", f"block {b}")
        data = media.data
        if not isinstance(data, np.ndarray) or data.shape != block_header.shape or data.dtype != np.uint8:
            raise ChecksumError(f"block {b} decoded to {getattr(data, 'shape', None)}, expected {block_header.shape}")
        items = data.reshape(end - start, *index.item_shape)
        items.flags.writeable = False  # the cached block is shared by the items it hands out
        self._cached = (b, items, source.symbols_hash())
        return items, self._cached[2]


def open_file(path: str | os.PathLike, **options: Any) -> DatasetFile:
    """Open a `.rcz` file for item access (see `DatasetFile`). `options`: decode options, e.g. `weights=PATH`."""
    from .fileio import read_file

    return DatasetFile(container.read(read_file(path, FormatError)), str(path), **options)


open = open_file  # rcodec.open


def decode_stack(c: Container, **options: Any) -> tuple[Media, bool | None]:
    """Decode a whole dataset container into one Media holding the stack, every hash checked; and whether the
    output hash matched (None without one)."""
    ds = DatasetFile(c, **options)
    stack = ds.decode_all()
    return Media("image", stack, c.header.original_format, c.header.original_size, stack=True), ds.output_matches
