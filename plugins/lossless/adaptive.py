"""Adaptive context models whose tables encoder and decoder rebuild identically from integer counts."""

from __future__ import annotations

import numpy as np

from rcodec.entropy import CdfTables, quantize_pmf

PRECISION = 16
INCREMENT = 32  # weight of one observation against the initial count of 1: fast learning, no zero frequencies
RESCALE_AT = 1 << 16  # halve a context's counts beyond this total: old statistics fade, counts stay small


class AdaptiveContexts:
    """One categorical model per context over `symbols` values starting at `offset`.

    Call `tables()` before coding a batch and `update(contexts, values)` after: batches are coded with the tables
    as they stood before the batch, so a decoder can decode a whole batch at once.
    """

    def __init__(self, contexts: int, symbols: int, offset: int, escape: bool = False,
                 prior: np.ndarray | None = None, prior_weight: int = 0) -> None:
        """`prior` (contexts, symbols) float pmfs worth `prior_weight` counts give a head start on short inputs."""
        self.counts = np.ones((contexts, symbols), dtype=np.int64)
        if prior is not None:
            self.counts += np.floor(np.asarray(prior, dtype=np.float64) * prior_weight).astype(np.int64)
        self.symbols, self.offset, self.escape = symbols, offset, escape
        self._tables: CdfTables | None = None

    def tables(self) -> CdfTables:
        if self._tables is None:
            freqs = quantize_pmf(self.counts.astype(np.float64), PRECISION)
            self._tables = CdfTables.from_frequencies(freqs, self.offset, PRECISION, self.escape)
        return self._tables

    def update(self, contexts: np.ndarray, values: np.ndarray) -> None:
        symbols = np.asarray(values, dtype=np.int64) - self.offset
        if self.escape:
            symbols = np.clip(symbols, 0, self.symbols - 1)  # out-of-range values count as the escape symbol
        n_ctx = self.counts.shape[0]
        flat = np.asarray(contexts, dtype=np.int64) * self.symbols + symbols
        self.counts += INCREMENT * np.bincount(flat, minlength=n_ctx * self.symbols).reshape(n_ctx, self.symbols)
        heavy = self.counts.sum(axis=1) > RESCALE_AT
        if heavy.any():
            self.counts[heavy] = (self.counts[heavy] + 1) // 2
        self._tables = None
