"""The native layer: checksums against their reference implementations, varints, and the rANS decoder's
behaviour on damaged or hostile bytes (it may return values or raise FormatError, nothing else)."""

from __future__ import annotations

import threading
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rcodec import _native
from rcodec.entropy.rans import RansCoder, native_tables
from rcodec.entropy.tables import CdfTables
from rcodec.errors import FormatError

LENGTHS = [0, 1, 3, 4, 7, 8, 9, 15, 16, 31, 32, 33, 63, 64, 65, 100, 1000, 4099]


def sample_bytes(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed + n).integers(0, 256, n, dtype=np.uint8).tobytes()


# ---- checksums -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", LENGTHS)
def test_crc32_matches_zlib(n: int) -> None:
    data = sample_bytes(n)
    assert _native.crc32(data) == zlib.crc32(data)
    assert _native.crc32(data, 0xDEADBEEF) == zlib.crc32(data, 0xDEADBEEF)
    head, tail = data[: n // 3], data[n // 3 :]
    assert _native.crc32(tail, _native.crc32(head)) == zlib.crc32(data)


def test_crc32_takes_any_bytes_like() -> None:
    data = sample_bytes(100)
    expected = zlib.crc32(data)
    assert _native.crc32(bytearray(data)) == expected
    assert _native.crc32(memoryview(data)) == expected
    assert _native.crc32(np.frombuffer(data, np.uint8)) == expected


@pytest.mark.parametrize("n", LENGTHS)
def test_xxh64_matches_xxhash(n: int) -> None:
    xxhash = pytest.importorskip("xxhash")
    data = sample_bytes(n)
    assert _native.xxh64(data) == xxhash.xxh64_intdigest(data)
    assert _native.xxh64(data, 2**64 - 1) == xxhash.xxh64_intdigest(data, 2**64 - 1)


# ---- varints ---------------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), max_size=50))
def test_varint_round_trip(values: list[int]) -> None:
    array = np.array(values, dtype=np.uint64)
    data = _native.varint_encode(array)
    np.testing.assert_array_equal(_native.varint_decode(data, len(values)), array)
    decoded, end = _native.varint_decode_from(b"xy" + data + b"z", len(values), 2)
    np.testing.assert_array_equal(decoded, array)
    assert end == 2 + len(data)


def test_varint_known_encodings() -> None:
    values = np.array([0, 1, 127, 128, 300, 2**64 - 1], np.uint64)
    assert _native.varint_encode(values) == bytes.fromhex("00017f8001ac02ffffffffffffffffff01")


@pytest.mark.parametrize("data", [b"", b"\x80", b"\xff" * 10 + b"\x01", b"\xff" * 9 + b"\x02", b"\x80\x00"])
def test_varint_refuses_bad_encodings(data: bytes) -> None:
    # truncated, longer than 10 bytes, above 2**64 - 1, non-canonical
    with pytest.raises(_native.FormatError):
        _native.varint_decode(data, 1)


def test_varint_count_larger_than_data_is_refused_before_allocating() -> None:
    with pytest.raises(_native.FormatError):
        _native.varint_decode(b"\x01", 2**40)


# ---- rANS streams ----------------------------------------------------------------------------------------------


def test_native_format_error_is_a_value_error() -> None:
    assert issubclass(_native.FormatError, ValueError)


def sample_stream() -> tuple[CdfTables, list[tuple[np.ndarray, np.ndarray | None]], bytes]:
    """Two calls, indexed and not, with escapes, long enough to use 8 lanes."""
    rng = np.random.default_rng(5)
    tables = CdfTables.from_pmfs([np.exp(-np.abs(np.arange(-6, 7)) / s) for s in (0.7, 3.0)],
                                 offsets=np.array([-6, -6]), escape=True)
    first = rng.integers(-9, 10, 700).astype(np.int32)
    idx = rng.integers(0, 2, 300).astype(np.int32)
    second = rng.integers(-30, 30, 300).astype(np.int32)
    plan = [(first, None), (second, idx)]
    encoder = RansCoder().encoder()
    for values, i in plan:
        encoder.encode(values, tables, i)
    return tables, plan, encoder.finish()


def decode_all(tables: CdfTables, plan, data: bytes) -> list[np.ndarray]:
    decoder = RansCoder().decoder(data)
    return [decoder.decode(tables, i, None if i is not None else v.size) for v, i in plan]


def test_stream_is_deterministic() -> None:
    _, _, data = sample_stream()
    assert sample_stream()[2] == data
    # The byte format is part of RansCoder.version 1: a change here needs a version bump.
    assert _native.xxh64(data) == STREAM_XXH64, hex(_native.xxh64(data))


STREAM_XXH64 = 0xC39C9A4F4D5E182A


def test_every_truncation_decodes_or_raises_format_error() -> None:
    tables, plan, data = sample_stream()
    for cut in range(len(data)):
        try:
            decode_all(tables, plan, data[:cut])
        except FormatError:
            pass


def test_every_byte_corruption_decodes_or_raises_format_error() -> None:
    tables, plan, data = sample_stream()
    for at in range(0, len(data), 3):
        damaged = bytearray(data)
        damaged[at] ^= 0x5A
        try:
            decode_all(tables, plan, bytes(damaged))
        except FormatError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 3000), st.booleans())
def test_random_bytes_decode_or_raise_format_error(data: bytes, count: int, indexed: bool) -> None:
    tables = CdfTables.from_pmfs([np.array([0.7, 0.2, 0.1]), np.array([0.1] * 10)], offsets=np.array([-1, 0]),
                                 escape=True)
    indexes = (np.arange(count) % 2).astype(np.int32) if indexed else None
    try:
        decoder = RansCoder().decoder(data)
        decoder.decode(tables, indexes, count)
        decoder.decode(tables, indexes, count)
    except FormatError:
        pass


def test_random_bytes_after_a_valid_header() -> None:
    tables = CdfTables.uniform(256)
    rng = np.random.default_rng(9)
    for _ in range(200):
        words = int(rng.integers(0, 40))
        body = rng.integers(0, 256, 4 * words, dtype=np.uint8).tobytes()
        header = bytes([8]) + _native.varint_encode(np.array([words, 0] + list(rng.integers(0, 2**40, 8)),
                                                             np.uint64))
        try:
            RansCoder().decoder(header + body).decode(tables, count=int(rng.integers(0, 500)))
        except FormatError:
            pass


def test_decoder_stops_after_an_error() -> None:
    tables, plan, data = sample_stream()
    decoder = RansCoder().decoder(data)
    with pytest.raises(FormatError):
        decoder.decode(tables, count=10_000)  # more symbols than the stream holds: it runs out of words
    with pytest.raises(FormatError):
        decoder.decode(tables, count=1)


def test_concurrent_decoding_in_threads() -> None:
    tables = CdfTables.from_pmfs(np.exp(-np.arange(256) / 20.0)[None, :])
    values = np.random.default_rng(2).integers(0, 200, 400_000).astype(np.int32)
    encoder = RansCoder().encoder()
    encoder.encode(values, tables)
    data = encoder.finish()
    native_tables(tables)  # shared, read-only, by both threads
    results: list[np.ndarray | None] = [None, None]

    def work(slot: int) -> None:
        decoder = RansCoder().decoder(data)
        results[slot] = np.concatenate([decoder.decode(tables, count=100_000) for _ in range(4)])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(results[0], values)
    np.testing.assert_array_equal(results[1], values)


def test_native_tables_refuse_invalid_arrays() -> None:
    good = CdfTables.uniform(4)
    cdf = good.cdf.copy()
    cdf[0, 2] = cdf[0, 1]  # a zero frequency
    with pytest.raises(ValueError):
        _native.RansTables(cdf, good.lengths, good.offsets, 16, False)
    with pytest.raises(ValueError):
        _native.RansTables(good.cdf, good.lengths, good.offsets, 17, False)
    with pytest.raises(ValueError):
        _native.RansTables(good.cdf, good.lengths + 1, good.offsets, 16, False)
    with pytest.raises(ValueError):
        _native.RansTables(good.cdf[0], good.lengths, good.offsets, 16, False)
