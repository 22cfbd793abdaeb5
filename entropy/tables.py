"""Integer CDF tables: the exact, machine-independent form of every probability model rcodec codes with.

Layout (the one CompressAI's entropy models export as `quantized_cdf`, `cdf_length`, `offset`):

- `cdf`: int32 array (T, L + 1). Row t is the cumulative frequency of table t: `cdf[t, 0] == 0`,
  `cdf[t, lengths[t]] == 1 << precision`, strictly increasing in between (every symbol has frequency >= 1), and
  padded with `1 << precision` after `lengths[t]`.
- `lengths`: int32 (T,), the number of symbols of table t. With `escape=True` the last symbol of each table is the
  escape symbol: values outside `[offsets[t], offsets[t] + lengths[t] - 1)` are coded as the escape symbol
  followed by the value itself in a universal code, so every int32 value is codable.
- `offsets`: int32 (T,), the value that symbol 0 of table t stands for.

CompressAI's `cdf_length` counts CDF entries (symbols + 1): `lengths = cdf_length - 1`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rcodec.errors import FormatError

MAX_PRECISION = 16


def quantize_pmf(pmf: np.ndarray, precision: int = 16) -> np.ndarray:
    """Integer frequencies (int64) >= 1 summing to exactly 2**precision, as close to `pmf` as the grid allows.

    Works on the last axis. Pure integer arithmetic after one float->int step, so the result depends only on
    the float64 input values: feed it integer counts (exact in float64) and it is identical on every machine.
    """
    pmf = np.asarray(pmf, dtype=np.float64)
    k = pmf.shape[-1]
    total = 1 << precision
    if k > total:
        raise ValueError(f"{k} symbols do not fit {precision}-bit precision")
    if np.any(~np.isfinite(pmf)) or np.any(pmf < 0):
        raise ValueError("probabilities must be finite and non-negative")
    sums = pmf.sum(axis=-1, keepdims=True)
    sums = np.where(sums > 0, sums, 1.0)
    freq = 1 + np.floor(pmf / sums * (total - k)).astype(np.int64)
    # The floor leaves a deficit of at most k; give it to the most probable symbol (first one on ties).
    deficit = total - freq.sum(axis=-1)
    top = np.argmax(freq, axis=-1)
    np.put_along_axis(freq, top[..., None], np.take_along_axis(freq, top[..., None], -1) + deficit[..., None], -1)
    return freq


@dataclass(frozen=True, eq=False)
class CdfTables:
    cdf: np.ndarray
    lengths: np.ndarray
    offsets: np.ndarray
    precision: int = 16
    escape: bool = False
    check: bool = field(default=True, repr=False, compare=False)  # False only for tables built by from_frequencies
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cdf", np.ascontiguousarray(self.cdf, dtype=np.int32))
        object.__setattr__(self, "lengths", np.ascontiguousarray(self.lengths, dtype=np.int32))
        object.__setattr__(self, "offsets", np.ascontiguousarray(self.offsets, dtype=np.int32))
        if self.check:
            self.validate()

    @property
    def count(self) -> int:
        return int(self.cdf.shape[0])

    def validate(self) -> None:
        """Check the invariants the coders rely on; raises FormatError (tables may come from a file)."""
        cdf, lengths = self.cdf, self.lengths
        if cdf.ndim != 2 or lengths.shape != (cdf.shape[0],) or self.offsets.shape != (cdf.shape[0],):
            raise FormatError("CDF table arrays have inconsistent shapes")
        if not 1 <= self.precision <= MAX_PRECISION:
            raise FormatError(f"CDF precision {self.precision} outside 1..{MAX_PRECISION}")
        if cdf.shape[0] == 0:
            return
        if np.any(lengths < 1) or np.any(lengths > cdf.shape[1] - 1) or (self.escape and np.any(lengths < 2)):
            raise FormatError("CDF table length out of range")
        top = 1 << self.precision
        cols = np.arange(cdf.shape[1])
        inside = cols[None, :] <= lengths[:, None]
        if np.any(cdf[:, 0] != 0) or np.any(cdf[np.arange(len(lengths)), lengths] != top):
            raise FormatError("CDF tables must start at 0 and end at 2**precision")
        steps = np.diff(cdf, axis=1)
        if np.any((steps <= 0) & inside[:, 1:]) or np.any(cdf[~inside] != top):
            raise FormatError("CDF tables must be strictly increasing and padded with 2**precision")

    def frequencies(self, table: int) -> np.ndarray:
        n = int(self.lengths[table])
        return np.diff(self.cdf[table, : n + 1]).astype(np.int64)

    @classmethod
    def from_frequencies(cls, freqs: np.ndarray | list[np.ndarray], offsets: np.ndarray | int = 0,
                         precision: int = 16, escape: bool = False) -> CdfTables:
        """Tables from integer frequencies (each row >= 1 and summing to 2**precision)."""
        if isinstance(freqs, np.ndarray) and freqs.ndim == 2:
            return cls._from_frequency_matrix(freqs, offsets, precision, escape)
        rows = [np.asarray(f, dtype=np.int64) for f in (freqs if isinstance(freqs, list) else np.atleast_2d(freqs))]
        width = max(len(r) for r in rows) + 1
        cdf = np.full((len(rows), width), 1 << precision, dtype=np.int64)
        for t, f in enumerate(rows):
            cdf[t, 0] = 0
            cdf[t, 1 : len(f) + 1] = np.cumsum(f)
        lengths = np.array([len(r) for r in rows], dtype=np.int32)
        offsets = np.broadcast_to(np.asarray(offsets, dtype=np.int32), (len(rows),)).copy()
        return cls(cdf.astype(np.int32), lengths, offsets, precision, escape)

    @classmethod
    def _from_frequency_matrix(cls, freqs: np.ndarray, offsets: np.ndarray | int, precision: int,
                               escape: bool) -> CdfTables:
        # The fast path for adaptive models that rebuild their tables often: equal-length rows.
        freqs = np.asarray(freqs, dtype=np.int64)
        t, n = freqs.shape
        if np.any(freqs < 1) or np.any(freqs.sum(axis=1) != 1 << precision):
            raise ValueError("frequencies must be >= 1 and sum to 2**precision")
        cdf = np.zeros((t, n + 1), dtype=np.int32)
        cdf[:, 1:] = np.cumsum(freqs, axis=1)
        lengths = np.full(t, n, dtype=np.int32)
        offsets = np.broadcast_to(np.asarray(offsets, dtype=np.int32), (t,)).copy()
        return cls(cdf, lengths, offsets, precision, escape, check=False)

    @classmethod
    def from_pmfs(cls, pmfs: np.ndarray | list[np.ndarray], offsets: np.ndarray | int = 0, precision: int = 16,
                  escape: bool = False) -> CdfTables:
        """Tables from float pmfs. With `escape`, a tail-mass symbol is appended to every row.

        Only deterministic if the float inputs are: compute pmfs once (e.g. when exporting weights) and ship the
        integer tables, or feed integer counts.
        """
        rows = [np.asarray(p, dtype=np.float64) for p in (pmfs if isinstance(pmfs, list) else np.atleast_2d(pmfs))]
        if escape:
            rows = [np.append(p, max(1.0 - p.sum(), 0.0)) for p in rows]
        return cls.from_frequencies([quantize_pmf(p, precision) for p in rows], offsets, precision, escape)

    @classmethod
    def uniform(cls, symbols: int, precision: int = 16) -> CdfTables:
        """One table, uniform over `symbols` values starting at 0."""
        return cls.from_pmfs(np.ones((1, symbols)), 0, precision)

    def information_bits(self, values: np.ndarray, indexes: np.ndarray | None = None) -> float:
        """Ideal code length in bits of `values` under these tables; an escaped value counts as its escape symbol
        (the bits of the escape code itself are not counted)."""
        values = np.asarray(values, dtype=np.int64)
        idx = np.zeros(values.shape, np.int64) if indexes is None else np.asarray(indexes, np.int64)
        sym = values - self.offsets[idx]
        last = self.lengths[idx].astype(np.int64) - 1
        sym = np.where((sym < 0) | (sym > last), last, sym)
        lo = self.cdf[idx, sym].astype(np.int64)
        hi = self.cdf[idx, sym + 1].astype(np.int64)
        return float(np.sum(self.precision - np.log2(hi - lo)))
