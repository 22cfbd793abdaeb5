"""Integers coded with a table built from their own histogram, which is sent first as integer counts.

The table comes from the counts by integer arithmetic only, so encoder and decoder derive the same table on every
machine. Suits a few thousand values of unknown distribution (quantized network weights, gains), where a sent
histogram costs less than a mismatched fixed model.
"""

from __future__ import annotations

import numpy as np

from .tables import CdfTables, quantize_pmf

COUNT_SYMBOLS = 64  # counts below this are coded directly; larger ones through the escape code


def _count_table() -> CdfTables:
    return CdfTables.from_pmfs(np.ones((1, COUNT_SYMBOLS)) / (COUNT_SYMBOLS + 1), 0, escape=True)


def _value_table(counts: np.ndarray, offset: int) -> CdfTables:
    # Integer counts are exact in float64, so quantize_pmf gives the same frequencies on every machine.
    return CdfTables.from_frequencies(quantize_pmf(counts.astype(np.float64) + 0.0), offsets=offset)


def write_histogram_coded(sink, values: np.ndarray, offset: int, size: int) -> None:
    """Integers in offset .. offset + size - 1, coded with a table built from their own histogram, which goes
    first as integer counts: the decoder builds the same table by integer arithmetic."""
    counts = np.bincount(values - offset, minlength=size)
    sink.write(counts, _count_table())
    sink.write(values, _value_table(counts, offset))


def read_histogram_coded(source, count: int, offset: int, size: int, mismatch: str) -> np.ndarray:
    """The inverse of `write_histogram_coded` for `count` values; FormatError(`mismatch`) if the counts do not
    add up to `count`."""
    from rcodec.errors import FormatError

    counts = source.read(_count_table(), count=size).astype(np.int64)
    if np.any(counts < 0) or int(counts.sum()) != count:
        raise FormatError(mismatch)
    return source.read(_value_table(counts, offset), count=count)
