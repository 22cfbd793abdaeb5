"""Round trips of every entropy-coder backend over random tables, values and call sequences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rcodec.entropy.constriction_coders import AnsCoder, RangeCoder
from rcodec.entropy.rans import RansCoder
from rcodec.entropy.tables import CdfTables, quantize_pmf

BACKENDS = {"rans": RansCoder(), "ans": AnsCoder(), "range": RangeCoder()}
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def cdf_tables(draw, escape: bool | None = None, extreme_offsets: bool = False) -> CdfTables:
    """Random valid tables: skewed frequencies (many symbols at the minimum frequency 1), single-symbol tables."""
    precision = draw(st.integers(1, 16))
    escape = draw(st.booleans()) if escape is None else escape
    total = 1 << precision
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows, offsets = [], []
    for _ in range(draw(st.integers(1, 4))):
        n = draw(st.integers(2 if escape else 1, max(2 if escape else 1, min(total, 24))))
        spare = rng.multinomial(total - n, rng.dirichlet(np.full(n, draw(st.sampled_from([0.05, 0.5, 5.0])))))
        rows.append(1 + spare)
        if extreme_offsets:
            offsets.append(draw(st.sampled_from([INT32_MIN, INT32_MIN + 1, -1, 0, INT32_MAX - n, INT32_MAX - 1,
                                                 INT32_MAX])))
        else:
            offsets.append(draw(st.integers(-40, 40)))
    return CdfTables.from_frequencies(rows, np.array(offsets), precision, escape)


@st.composite
def call_plans(draw, tables: CdfTables, extremes: bool = True) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """1-4 calls of 0-300 values each, with per-value indexes or none (table 0)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    plan = []
    for _ in range(draw(st.integers(1, 4))):
        n = draw(st.sampled_from([0, 1, 2, 7, 8, 9, 255, 256, 300]))
        indexed = draw(st.booleans())
        idx = rng.integers(0, tables.count, n).astype(np.int32) if indexed else np.zeros(n, np.int32)
        plain = tables.lengths[idx].astype(np.int64) - (1 if tables.escape else 0)
        fits = np.minimum(plain, INT32_MAX - tables.offsets[idx].astype(np.int64) + 1)  # symbols with int32 values
        values = tables.offsets[idx].astype(np.int64) + (rng.random(n) * fits).astype(np.int64)
        if tables.escape and n:
            outside = rng.random(n) < 0.2
            near = np.where(rng.random(n) < 0.5, tables.offsets[idx] - rng.integers(1, 5, n),
                            tables.offsets[idx].astype(np.int64) + plain + rng.integers(0, 5, n))
            far = rng.choice([INT32_MIN, INT32_MIN + 1, INT32_MAX - 1, INT32_MAX], n) if extremes else near
            values = np.where(outside, np.where(rng.random(n) < 0.5, near, far), values)
            values = np.clip(values, INT32_MIN, INT32_MAX)
        plan.append((values.astype(np.int32), idx if indexed else None))
    return plan


def round_trip(coder, tables: CdfTables, plan) -> bytes:
    encoder = coder.encoder()
    for values, idx in plan:
        encoder.encode(values, tables, idx)
    data = encoder.finish()
    decoder = coder.decoder(data)
    for values, idx in plan:
        out = decoder.decode(tables, idx, None if idx is not None else values.size)
        assert out.dtype == np.int32
        np.testing.assert_array_equal(out, values)
    return data


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@PROPERTY
@given(data=st.data())
def test_round_trip(backend: str, data) -> None:
    tables = data.draw(cdf_tables())
    plan = data.draw(call_plans(tables))
    round_trip(BACKENDS[backend], tables, plan)


@PROPERTY
@given(data=st.data())
def test_rans_round_trip_extreme_offsets(data) -> None:
    tables = data.draw(cdf_tables(extreme_offsets=True))
    round_trip(RansCoder(), tables, data.draw(call_plans(tables)))


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_escape_extremes(backend: str) -> None:
    tables = CdfTables.from_pmfs([np.array([0.2, 0.5, 0.2]), np.array([0.9])], offsets=np.array([-1, 0]), escape=True)
    values = np.array([INT32_MIN, INT32_MAX, -2, 2, -1, 0, 1, 1000, -1000, INT32_MAX, INT32_MIN], np.int32)
    idx = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1], np.int32)
    round_trip(BACKENDS[backend], tables, [(values, idx)])


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_empty_and_zero_length_calls(backend: str) -> None:
    tables = CdfTables.uniform(5)
    coder = BACKENDS[backend]
    data = coder.encoder().finish()
    assert coder.decoder(data).decode(tables, count=0).size == 0
    round_trip(coder, tables, [(np.zeros(0, np.int32), None), (np.array([3], np.int32), None),
                               (np.zeros(0, np.int32), np.zeros(0, np.int32))])


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_later_indexes_depend_on_earlier_values(backend: str) -> None:
    """The hyperprior pattern: decode z, derive y's table indexes from it, decode y."""
    rng = np.random.default_rng(3)
    z_tables = CdfTables.from_pmfs(np.array([[1, 2, 4, 2, 1.0]]), offsets=-2, escape=True)
    y_tables = CdfTables.from_pmfs([np.exp(-np.abs(np.arange(-8, 9)) / s) for s in (0.5, 2.0, 6.0)],
                                   offsets=np.full(3, -8), escape=True)
    z = rng.integers(-2, 3, 64).astype(np.int32)
    y_idx = (np.abs(np.repeat(z, 4)) % 3).astype(np.int32)
    y = rng.integers(-12, 13, y_idx.size).astype(np.int32)
    encoder = BACKENDS[backend].encoder()
    encoder.encode(z, z_tables)
    encoder.encode(y, y_tables, y_idx)
    decoder = BACKENDS[backend].decoder(encoder.finish())
    z_hat = decoder.decode(z_tables, count=z.size)
    y_hat = decoder.decode(y_tables, (np.abs(np.repeat(z_hat, 4)) % 3).astype(np.int32))
    np.testing.assert_array_equal(z_hat, z)
    np.testing.assert_array_equal(y_hat, y)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_refuses_uncodable_calls(backend: str) -> None:
    tables = CdfTables.uniform(4)
    encoder = BACKENDS[backend].encoder()
    with pytest.raises(ValueError):
        encoder.encode(np.array([0, 4], np.int32), tables)  # no escape symbol
    with pytest.raises(ValueError):
        encoder.encode(np.array([0], np.int32), tables, np.array([1], np.int32))  # no table 1
    with pytest.raises(ValueError):
        encoder.encode(np.array([0, 1], np.int32), tables, np.array([0], np.int32))  # lengths differ
    # A refused call leaves the encoder as it was.
    round_trip_data = encoder.finish()
    assert BACKENDS[backend].decoder(round_trip_data).decode(tables, count=0).size == 0
    with pytest.raises(ValueError):
        BACKENDS[backend].decoder(round_trip_data).decode(tables)


def test_rans_single_symbol_tables_cost_nothing() -> None:
    tables = CdfTables.from_frequencies([np.array([1 << 12])], offsets=7, precision=12)
    data = round_trip(RansCoder(), tables, [(np.full(10_000, 7, np.int32), None)])
    assert len(data) < 32


def test_rans_size_close_to_information() -> None:
    rng = np.random.default_rng(0)
    tables = CdfTables.from_pmfs(np.exp(-np.arange(64) / 6.0)[None, :])
    values = np.searchsorted(tables.cdf[0, 1:], rng.integers(0, 1 << 16, 200_000), side="right").astype(np.int32)
    data = round_trip(RansCoder(), tables, [(values, None)])
    ideal = tables.information_bits(values) / 8
    assert ideal <= len(data) <= ideal * 1.001 + 100


def test_rans_other_integer_dtypes() -> None:
    tables = CdfTables.uniform(8)
    coder = RansCoder()
    values = np.array([[0, 7], [3, 4]], dtype=np.int64)  # any shape and integer dtype; coded in C order
    data = round_trip(coder, tables, [(values.ravel().astype(np.int32), None)])
    encoder = coder.encoder()
    encoder.encode(values, tables, np.zeros((2, 2), np.uint8))
    assert encoder.finish() == data
    with pytest.raises(ValueError):
        coder.encoder().encode(np.array([2**40]), tables)
    with pytest.raises(ValueError):
        coder.encoder().encode(np.array([0.5]), tables)


def test_rans_decoder_reports_exhaustion() -> None:
    tables = CdfTables.uniform(16)
    encoder = RansCoder().encoder()
    encoder.encode(np.arange(16, dtype=np.int32), tables)
    decoder = RansCoder().decoder(encoder.finish())
    decoder.decode(tables, count=15)
    assert not decoder.exhausted
    decoder.decode(tables, count=1)
    assert decoder.exhausted


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_single_symbol_table(backend: str) -> None:
    round_trip(BACKENDS[backend], CdfTables.uniform(1), [(np.zeros(3, np.int32), None)])


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_far_escape(backend: str) -> None:
    tables = CdfTables.from_pmfs(np.array([[0.5, 0.3]]), offsets=-8, escape=True)
    round_trip(BACKENDS[backend], tables, [(np.array([INT32_MAX], np.int32), None)])


def test_bench_result_shape() -> None:
    from rcodec.entropy.bench import format_table, run_entropy_bench

    messages: list[str] = []
    result = run_entropy_bench(symbols=3000, repeats=1, backends={"rans": RansCoder(), "range": RangeCoder()},
                               progress=messages.append)
    assert set(result) == {"cases", "machine", "command"}
    assert set(result["cases"]) == {"categorical256", "gaussian_indexed"}
    for case in result["cases"].values():
        assert set(case) == {"rans", "range"}
        for figures in case.values():
            assert set(figures) == {"encode_ns_per_symbol", "decode_ns_per_symbol", "bits_per_symbol",
                                    "information_bits_per_symbol", "roundtrip_ok"}
            assert figures["roundtrip_ok"]
            assert figures["bits_per_symbol"] >= figures["information_bits_per_symbol"] * 0.99
    assert messages and "gaussian_indexed" in format_table(result)


def test_compressai_adapter_round_trip() -> None:
    from rcodec.entropy.bench import CompressaiAnsCoder, gaussian_case

    tables, values, indexes = gaussian_case(2000)
    round_trip(CompressaiAnsCoder(), tables, [(values[:500], indexes[:500]), (values[500:], indexes[500:])])


def test_rans_one_table_per_symbol_path_codes_like_the_table_path():
    """Symbol i with table i (exact conditionals) skips building lookup tables; the bits must not change."""
    from rcodec.entropy.rans import RansCoder

    rng = np.random.default_rng(7)
    for n in (3, 20000):  # one lane and eight lanes
        pmfs = rng.random((n, 30)) ** 4
        tables = CdfTables.from_frequencies(quantize_pmf(pmfs, 16), offsets=rng.integers(-4, 4, n))
        values = (pmfs.cumsum(1) / pmfs.sum(1, keepdims=True) < rng.random((n, 1))).sum(1) + tables.offsets
        # The same tables plus one unused table: the general path.
        general = CdfTables(np.vstack([tables.cdf, tables.cdf[:1]]), np.append(tables.lengths, tables.lengths[0]),
                            np.append(tables.offsets, 0))
        streams = []
        for t in (tables, general):
            encoder = RansCoder().encoder()
            encoder.encode(values, t, np.arange(n))
            streams.append(encoder.finish())
        assert streams[0] == streams[1]
        decoder = RansCoder().decoder(streams[0])
        assert np.array_equal(decoder.decode(tables, np.arange(n)), values)
        assert decoder.exhausted
        with pytest.raises(ValueError, match="range"):
            RansCoder().encoder().encode(tables.offsets + 30, tables, np.arange(n))
