"""The entropy-coder contract every backend implements, plus the escape code the Python backends share.

An encoder receives calls `encode(values, tables, indexes)` and produces one byte string; the decoder, built on
those bytes, answers the same sequence of calls `decode(tables, indexes)` with the same values. Tables and indexes
of a later call may depend on values decoded earlier (a hyperprior decodes z, then computes y's table indexes).
Backends are registered by plugins under an id (`rans`, `ans`, `range`, ...); the id and `version` go into the file
header, and any change of the bytes a backend writes bumps its version.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from .tables import CdfTables

# Escaped values: how many bits the zig-zag distance takes (0..34: an int32 value can lie almost 2**32 beyond an
# int32 table range, and zig-zag doubles that) as one uniform symbol, then its low bits in chunks.
ESCAPE_LENGTH_SYMBOLS = 35
ESCAPE_CHUNK_BITS = 8


class EntropyEncoder(ABC):
    @abstractmethod
    def encode(self, values: np.ndarray, tables: CdfTables, indexes: np.ndarray | None = None) -> None:
        """Queue int32 `values`; value i is coded with table `indexes[i]` (table 0 for all when None)."""

    @abstractmethod
    def finish(self) -> bytes:
        """The compressed bytes of everything queued so far."""


class EntropyDecoder(ABC):
    @abstractmethod
    def decode(self, tables: CdfTables, indexes: np.ndarray | None = None, count: int | None = None) -> np.ndarray:
        """The next values, as int32: `len(indexes)` of them, or `count` from table 0 when indexes is None."""


class EntropyCoder(ABC):
    """A registered backend: a factory for encoders and decoders."""

    id: str = ""
    version: int = 1
    description: str = ""

    @abstractmethod
    def encoder(self) -> EntropyEncoder: ...

    @abstractmethod
    def decoder(self, data: bytes) -> EntropyDecoder: ...


def check_call(tables: CdfTables, indexes: np.ndarray | None, count: int | None) -> np.ndarray:
    """Normalise the per-value table indexes of one call and validate them against the table set."""
    if indexes is None:
        if count is None or count < 0:
            raise ValueError("decode needs indexes or a non-negative count")
        if count and tables.count == 0:
            raise ValueError("no tables to code with")
        return np.zeros(count, dtype=np.int32)
    indexes = np.ascontiguousarray(indexes, dtype=np.int32).ravel()
    if indexes.size and (indexes.min() < 0 or indexes.max() >= tables.count):
        raise ValueError("table index out of range")
    return indexes


def split_escapes(values: np.ndarray, tables: CdfTables, indexes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map values to in-table symbols; out-of-range ones become the escape symbol.

    Returns (symbols, escaped_values): the values that need the universal code, in coding order.
    """
    values = np.asarray(values, dtype=np.int64).ravel()
    symbols = values - tables.offsets[indexes]
    limit = tables.lengths[indexes].astype(np.int64) - (1 if tables.escape else 0)
    outside = (symbols < 0) | (symbols >= limit)
    if outside.any():
        if not tables.escape:
            raise ValueError("value outside its table's range and the tables have no escape symbol")
        symbols = np.where(outside, limit, symbols)
    return symbols.astype(np.int32), values[outside]


def escape_symbols(escaped: np.ndarray, tables: CdfTables, indexes: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """Zig-zag distance of each escaped value beyond its table's range (>= 0, fits in 32 bits)."""
    where = symbols == (tables.lengths[indexes] - 1)
    offsets = tables.offsets[indexes][where].astype(np.int64)
    top = offsets + tables.lengths[indexes][where].astype(np.int64) - 1  # first value above the range
    below = escaped < offsets
    return np.where(below, 2 * (offsets - escaped - 1), 2 * (escaped - top) + 1).astype(np.int64)


def unescape(distances: np.ndarray, tables: CdfTables, indexes: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    where = symbols == (tables.lengths[indexes] - 1)
    offsets = tables.offsets[indexes][where].astype(np.int64)
    top = offsets + tables.lengths[indexes][where].astype(np.int64) - 1
    return np.where(distances % 2 == 0, offsets - distances // 2 - 1, top + distances // 2)


def escape_chunks(distances: np.ndarray) -> list[tuple[int, int]]:
    """The universal code of escape distances as (symbol, alphabet size) pairs, in decoding order."""
    out: list[tuple[int, int]] = []
    for d in distances.tolist():
        nbits = int(d).bit_length()
        out.append((nbits, ESCAPE_LENGTH_SYMBOLS))
        rest, remaining = d, max(nbits - 1, 0)  # the top bit of d is implied by nbits
        while remaining > 0:
            take = min(ESCAPE_CHUNK_BITS, remaining)
            remaining -= take
            out.append(((rest >> remaining) & ((1 << take) - 1), 1 << take))
    return out


def read_escape_distances(count: int, read_symbol) -> np.ndarray:
    """Inverse of `escape_chunks`: `read_symbol(alphabet_size) -> int` pulls the next symbol."""
    out = np.empty(count, dtype=np.int64)
    for i in range(count):
        nbits = read_symbol(ESCAPE_LENGTH_SYMBOLS)
        d = 1 if nbits else 0
        remaining = max(nbits - 1, 0)
        while remaining > 0:
            take = min(ESCAPE_CHUNK_BITS, remaining)
            remaining -= take
            d = (d << take) | read_symbol(1 << take)
        out[i] = d
    return out
