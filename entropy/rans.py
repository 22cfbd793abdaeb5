"""`rans` backend: the native interleaved rANS coder of `rcodec._native` (csrc/rans.cpp).

The encoder hands each call to C++ at once (values are mapped to table entries and escapes are written then, so
the caller may reuse its arrays); `finish()` codes everything last symbol first, as rANS requires. The decoder is
a native object holding the lane states, so successive `decode` calls continue where the previous one stopped.
The byte format is described at the top of csrc/rans.hpp; any change to it bumps `RansCoder.version`.
"""

from __future__ import annotations

import numpy as np

from rcodec import _native
from rcodec.errors import FormatError

from .coder import EntropyCoder, EntropyDecoder, EntropyEncoder
from .tables import CdfTables

_CACHE_KEY = "rans.native"
_INT32 = np.iinfo(np.int32)


def native_tables(tables: CdfTables) -> _native.RansTables:
    """The native copy of `tables` with its lookup tables, built once and cached on the tables object."""
    native = tables._cache.get(_CACHE_KEY)
    if native is None:
        native = _native.RansTables(tables.cdf, tables.lengths, tables.offsets, tables.precision, tables.escape)
        tables._cache[_CACHE_KEY] = native
    return native


def _int32(array, what: str) -> np.ndarray:
    """`array` as int32 without silent wrap-around: other dtypes are range-checked (and floats must be integral)."""
    a = np.asarray(array)
    if a.dtype == np.int32:
        return a
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.array_equal(a, np.round(a)):
            raise ValueError(f"{what} must be integers")
    elif a.dtype.kind not in "iub":
        raise ValueError(f"{what} must be an integer array, not {a.dtype}")
    if a.size and a.dtype.kind != "b" and (a.min() < _INT32.min or a.max() > _INT32.max):
        raise ValueError(f"{what} outside the int32 range")
    return a.astype(np.int32)


class _Encoder(EntropyEncoder):
    __slots__ = ("_native",)

    def __init__(self) -> None:
        self._native = _native.RansEncoder()

    def encode(self, values: np.ndarray, tables: CdfTables, indexes: np.ndarray | None = None) -> None:
        values = _int32(values, "values")
        if indexes is not None:
            indexes = _int32(indexes, "table indexes")
            if values.size == indexes.size and _one_table_per_symbol(tables, indexes):
                self._encode_ranges(values.ravel(), tables)
                return
        self._native.push(native_tables(tables), values, indexes)

    def _encode_ranges(self, values: np.ndarray, tables: CdfTables) -> None:
        # Models that change with every symbol (e.g. exact conditionals): pass each symbol's range instead of
        # building lookup tables that would serve a single symbol. Same bits as the table path.
        symbols = values.astype(np.int64) - tables.offsets
        if np.any((symbols < 0) | (symbols >= tables.lengths)):
            raise ValueError("value outside its table's range and the tables have no escape symbol")
        rows = np.arange(values.size)
        start = tables.cdf[rows, symbols]
        self._native.push_ranges(start, tables.cdf[rows, symbols + 1] - start, tables.precision)

    def finish(self) -> bytes:
        return self._native.finish()


class _Decoder(EntropyDecoder):
    __slots__ = ("_native",)

    def __init__(self, data: bytes) -> None:
        try:
            self._native = _native.RansDecoder(bytes(data))
        except _native.FormatError as exc:
            raise FormatError(f"damaged rANS stream ({exc})") from None

    def decode(self, tables: CdfTables, indexes: np.ndarray | None = None, count: int | None = None) -> np.ndarray:
        if indexes is None:
            if count is None or count < 0:
                raise ValueError("decode needs indexes or a non-negative count")
        else:
            indexes = _int32(indexes, "table indexes").ravel()
            count = -1
        try:
            if indexes is not None and _one_table_per_symbol(tables, indexes):
                return self._native.decode_rows(tables.cdf, tables.precision) + tables.offsets
            return self._native.decode(native_tables(tables), indexes, count)
        except _native.FormatError as exc:
            raise FormatError(f"damaged rANS stream ({exc})") from None

    @property
    def exhausted(self) -> bool:
        """True once every coded symbol was decoded: a cheap check that the calls matched the stream."""
        return self._native.exhausted


def _one_table_per_symbol(tables: CdfTables, indexes: np.ndarray) -> bool:
    """Symbol i uses table i, and every table spans its row (no escape symbol): the direct-range path applies."""
    return (not tables.escape and indexes.size == tables.count and indexes.size > 0
            and bool(np.all(tables.lengths == tables.cdf.shape[1] - 1))
            and np.array_equal(indexes, np.arange(indexes.size, dtype=indexes.dtype)))


class RansCoder(EntropyCoder):
    id = "rans"
    version = 1
    description = "native interleaved rANS (8 lanes of 64-bit states, escape codes for any int32, up to 16-bit tables)"

    def encoder(self) -> EntropyEncoder:
        return _Encoder()

    def decoder(self, data: bytes) -> EntropyDecoder:
        return _Decoder(data)
