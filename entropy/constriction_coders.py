"""`ans` and `range` backends on constriction: its ANS stack and its range-coder queue.

Values of one call are coded grouped by table (all values of table 0 in order, then table 1, ...): the decoder
knows every index before it decodes, so it can regroup, and each group is a single constriction call with one
categorical model instead of one call per value. Escaped values follow their call's symbols.
"""

from __future__ import annotations

import numpy as np

from rcodec.errors import FormatError

from .coder import (
    EntropyCoder,
    EntropyDecoder,
    EntropyEncoder,
    check_call,
    escape_chunks,
    escape_symbols,
    read_escape_distances,
    split_escapes,
    unescape,
)
from .tables import CdfTables


def _constriction():
    import constriction

    return constriction


def _table_model(tables: CdfTables, t: int):
    key = ("constriction", t)
    model = tables._cache.get(key)
    if model is None:
        freqs = tables.frequencies(t).astype(np.float64)
        model = _constriction().stream.model.Categorical(freqs, perfect=False)
        tables._cache[key] = model
    return model


_UNIFORM: dict[int, object] = {}


def _uniform_model(size: int):
    model = _UNIFORM.get(size)
    if model is None:
        model = _constriction().stream.model.Categorical(np.ones(size), perfect=False)
        _UNIFORM[size] = model
    return model


def _groups(indexes: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(table, positions) for each table used, tables ascending, positions in order."""
    if indexes.size == 0:
        return []
    order = np.argsort(indexes, kind="stable")
    used, starts = np.unique(indexes[order], return_index=True)
    bounds = list(starts[1:]) + [len(order)]
    return [(int(t), order[s:e]) for t, s, e in zip(used, starts, bounds)]


class _Encoder(EntropyEncoder):
    def __init__(self, stack: bool) -> None:
        self.stack = stack
        self.plan: list[tuple[np.ndarray, object]] = []  # (symbols, model) in decoding order

    def encode(self, values: np.ndarray, tables: CdfTables, indexes: np.ndarray | None = None) -> None:
        values = np.asarray(values).ravel()
        idx = check_call(tables, indexes, values.size if indexes is None else None)
        if idx.size != values.size:
            raise ValueError("values and indexes differ in length")
        symbols, escaped = split_escapes(values, tables, idx)
        for t, positions in _groups(idx):
            if tables.lengths[t] > 1:  # a one-symbol table costs no bits (and constriction refuses it)
                self.plan.append((symbols[positions], _table_model(tables, t)))
        if escaped.size:
            for symbol, size in escape_chunks(escape_symbols(escaped, tables, idx, symbols)):
                self.plan.append((np.array([symbol], dtype=np.int32), _uniform_model(size)))

    def finish(self) -> bytes:
        stream = _constriction().stream
        if self.stack:
            coder = stream.stack.AnsCoder()
            for symbols, model in reversed(self.plan):
                coder.encode_reverse(symbols, model)
        else:
            coder = stream.queue.RangeEncoder()
            for symbols, model in self.plan:
                coder.encode(symbols, model)
        return coder.get_compressed().astype("<u4").tobytes()


class _Decoder(EntropyDecoder):
    def __init__(self, data: bytes, stack: bool) -> None:
        if len(data) % 4:
            raise FormatError("entropy-coded stream length is not a multiple of 4 bytes")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        stream = _constriction().stream
        try:
            self.coder = stream.stack.AnsCoder(words) if stack else stream.queue.RangeDecoder(words)
        except Exception as exc:  # constriction rejects some impossible streams up front
            raise FormatError(f"damaged entropy-coded stream ({exc})") from None

    def _read(self, model, count: int) -> np.ndarray:
        try:
            return np.asarray(self.coder.decode(model, count), dtype=np.int64)
        except Exception as exc:
            raise FormatError(f"damaged entropy-coded stream ({exc})") from None

    def decode(self, tables: CdfTables, indexes: np.ndarray | None = None, count: int | None = None) -> np.ndarray:
        idx = check_call(tables, indexes, count if indexes is None else None)
        symbols = np.empty(idx.size, dtype=np.int64)
        for t, positions in _groups(idx):
            if tables.lengths[t] > 1:
                symbols[positions] = self._read(_table_model(tables, t), positions.size)
            else:
                symbols[positions] = 0
        values = symbols + tables.offsets[idx]
        if tables.escape and idx.size:
            escaped = symbols == (tables.lengths[idx] - 1)
            n = int(escaped.sum())
            if n:
                distances = read_escape_distances(n, lambda size: int(self._read(_uniform_model(size), 1)[0]))
                values[escaped] = unescape(distances, tables, idx, symbols.astype(np.int32))
                if values.min() < -(2**31) or values.max() >= 2**31:
                    raise FormatError("escaped value outside the int32 range")
        return values.astype(np.int32)


class AnsCoder(EntropyCoder):
    id = "ans"
    version = 1
    description = "constriction's ANS stack coder (24-bit models)"

    def encoder(self) -> EntropyEncoder:
        return _Encoder(stack=True)

    def decoder(self, data: bytes) -> EntropyDecoder:
        return _Decoder(data, stack=True)


class RangeCoder(EntropyCoder):
    id = "range"
    version = 1
    description = "constriction's range coder queue (24-bit models)"

    def encoder(self) -> EntropyEncoder:
        return _Encoder(stack=False)

    def decoder(self, data: bytes) -> EntropyDecoder:
        return _Decoder(data, stack=False)
