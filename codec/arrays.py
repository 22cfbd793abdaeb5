"""Arrays of images as files: NumPy `.npy` and the MNIST idx format (optionally gzip'd), read with every size
checked against the bytes present before anything is allocated."""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from typing import TYPE_CHECKING

import numpy as np

from . import limits
from .errors import MediaError

if TYPE_CHECKING:
    from .media import Media

NPY_MAGIC = b"\x93NUMPY"
GZIP_MAGIC = b"\x1f\x8b"
IDX_UBYTE = 0x08
MAX_ARRAY_BYTES = limits.MAX_ARRAY_BYTES


def _idx_head(data: bytes) -> bytes:
    """The first bytes of an idx file, through gzip if the data is gzip'd."""
    if data[:2] == GZIP_MAGIC:
        try:
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, 4)
        except zlib.error:
            return b""
    return data[:4]


def is_npy(data: bytes) -> bool:
    return data[:6] == NPY_MAGIC


def is_idx(data: bytes) -> bool:
    head = _idx_head(data)
    return len(head) == 4 and head[:2] == b"\0\0" and head[2] == IDX_UBYTE and head[3] in (3, 4)


def is_stack(array: np.ndarray) -> bool:
    from .dataset import is_stack_shape

    return is_stack_shape(array.shape)


def load(data: bytes, name: str) -> tuple[np.ndarray, str]:
    """A uint8 image or stack of images from `.npy` or idx bytes, and its format name (NPY or IDX)."""
    array, fmt = (_load_npy(data, name), "NPY") if is_npy(data) else (_load_idx(data, name), "IDX")
    if array.dtype != np.uint8:
        raise MediaError(f"{name}: arrays of images must be uint8, got {array.dtype}")
    if array.ndim == 4 and array.shape[3] == 1 or array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (2 <= array.ndim <= 4) or array.ndim == 4 and array.shape[3] not in (3, 4) or min(array.shape) < 1:
        raise MediaError(f"{name}: an array of shape {array.shape} is neither an image (H, W[, C]) nor a stack of "
                         "images (N, H, W[, C])")
    return np.ascontiguousarray(array), fmt


def _load_npy(data: bytes, name: str) -> np.ndarray:
    fh = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fh)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(fh, max_header_size=10000)
    except (ValueError, SyntaxError, EOFError, TypeError) as exc:
        raise MediaError(f"{name}: not a readable .npy file ({exc})") from None
    if dtype.hasobject:
        raise MediaError(f"{name}: .npy files of Python objects are not read")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count * dtype.itemsize != len(data) - fh.tell():
        raise MediaError(f"{name}: the .npy header says {shape} {dtype}, the file holds "
                         f"{len(data) - fh.tell()} bytes of data")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=fh.tell())
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def _load_idx(data: bytes, name: str) -> np.ndarray:
    if data[:2] == GZIP_MAGIC:
        data = _gunzip_idx(data, name)
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise MediaError(f"{name}: truncated idx header")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) - 4 - 4 * ndim != count:
        raise MediaError(f"{name}: the idx header says {shape}, the file holds {len(data) - 4 - 4 * ndim} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _gunzip_idx(data: bytes, name: str) -> bytes:
    """Decompress only as much as the idx header announces (a gzip bomb stops there)."""
    try:
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        head = inflate.decompress(data, 4)
        ndim = head[3]
        head += inflate.decompress(inflate.unconsumed_tail, 4 * ndim)
        if len(head) < 4 + 4 * ndim:
            raise MediaError(f"{name}: truncated idx header")
        size = int(np.prod(struct.unpack(f">{ndim}I", head[4:]), dtype=np.int64))
        if size > MAX_ARRAY_BYTES:
            raise MediaError(f"{name}: an idx array of {size} bytes is larger than rcodec reads")
        body = inflate.decompress(inflate.unconsumed_tail, size + 1)
    except zlib.error as exc:
        raise MediaError(f"{name}: damaged gzip data ({exc})") from None
    return head + body


def save(media: Media, suffix: str) -> bytes:
    """`.npy`, `.idx` or gzip'd idx (`.gz`) bytes of an image or a stack of images."""
    array = np.ascontiguousarray(media.data)
    if not isinstance(media.data, np.ndarray):
        raise MediaError(f"cannot write {media.kind} as {suffix!r}")
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, array, allow_pickle=False)
        return buf.getvalue()
    if suffix in (".idx", ".gz"):
        raw = bytes([0, 0, IDX_UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
        return gzip.compress(raw, mtime=0) if suffix == ".gz" else raw
    raise MediaError(f"a stack of {array.shape[0]} images is written as .npy, .idx or .gz (idx), not {suffix!r}")
