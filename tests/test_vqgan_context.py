"""vqgan's masked context model: coding groups, the exact fixed-point path, coding round trips, restoration."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from thread_counts import on_one_and_two_threads  # noqa: E402

from rcodec import SymbolSink, SymbolSource  # noqa: E402
from rcodec.entropy import CdfTables  # noqa: E402
from rcodec.entropy.rans import RansCoder  # noqa: E402
from rcodec.entropy.tables import quantize_pmf  # noqa: E402
from rcodec.plugins.vqgan.context import (  # noqa: E402
    ACT_BITS,
    GROUPS,
    ContextNet,
    IntegerContext,
    coding_groups,
    exp_table,
    read_grid,
    restore_lost,
    train_context,
    write_grid,
)


def _striped_grids(n: int, k: int, size: int, seed: int = 0) -> np.ndarray:
    """Grids made of horizontal runs: an index predicts its neighbours, as in real images."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, k, (n, size, 1))
    return np.repeat(rows, size, axis=2)


def test_coding_groups_partition_the_grid_coarse_to_fine():
    groups = coding_groups(9, 12)
    assert set(np.unique(groups)) == set(range(GROUPS))
    assert groups[0, 0] == 0 and groups[4, 8] == 0 and groups[2, 2] == 1 and groups[0, 2] == 2
    assert groups[1, 1] == 3 and groups[0, 1] == 4 and groups[1, 0] == 4
    counts = np.bincount(groups.ravel(), minlength=GROUPS)
    assert counts.sum() == 9 * 12 and counts[4] == (9 * 12) // 2
    assert coding_groups(1, 1).tolist() == [[0]]


def test_fixed_point_path_is_exact_and_close_to_the_float_network():
    torch.manual_seed(0)
    net = ContextNet(16)
    ctx = IntegerContext.from_float(net, exp_table())
    tokens = np.random.default_rng(1).integers(0, 17, (7, 9))
    one, two = on_one_and_two_threads(lambda: ctx.logits(ctx.features(tokens), np.arange(63)))
    assert one.dtype == np.int64 and np.array_equal(one, two)
    with torch.no_grad():
        reference = net(torch.from_numpy(tokens)[None])[0].permute(1, 2, 0).reshape(63, 16).numpy()
    assert np.abs(one / (1 << ACT_BITS) - reference).max() < 0.05
    freq = ctx.frequencies(one)
    assert freq.dtype == np.int64 and freq.min() >= 1 and np.all(freq.sum(axis=1) == 1 << 16)
    # a state round trip keeps every integer
    again = IntegerContext.from_state(ctx.to_state())
    assert np.array_equal(again.logits(again.features(tokens), np.arange(63)), one)


def test_grid_round_trip_through_the_rans_coder():
    torch.manual_seed(0)
    k = 32
    ctx = IntegerContext.from_float(ContextNet(k), exp_table())
    categorical = CdfTables.from_frequencies(quantize_pmf(np.arange(1, k + 1, dtype=np.float64))[None])
    for shape in ((11, 6), (2, 2), (1, 5)):
        grid = np.random.default_rng(shape[0]).integers(0, k, shape)
        sink = SymbolSink(RansCoder())
        write_grid(sink, ctx, grid, categorical)
        streams, digest = sink.finish()
        source = SymbolSource(RansCoder(), streams)
        assert np.array_equal(read_grid(source, ctx, shape, categorical), grid)
        assert source.symbols_hash() == digest


def test_trained_context_model_beats_the_categorical_prior_and_restores():
    k = 16
    grids = _striped_grids(200, k, 12)
    net = train_context(grids, k, steps=150, batch=16, lr=1e-2, log=lambda line: None)
    ctx = IntegerContext.from_float(net, exp_table())
    test = _striped_grids(20, k, 12, seed=7)
    categorical = CdfTables.from_frequencies(quantize_pmf(np.ones(k))[None])
    coded = {}
    for name in ("context", "categorical"):
        sink = SymbolSink(RansCoder())
        for grid in test:
            if name == "context":
                write_grid(sink, ctx, grid, categorical)
            else:
                sink.write(grid.ravel(), categorical)
        coded[name] = sum(len(s) for s in sink.finish()[0])
    assert coded["context"] < 0.6 * coded["categorical"], coded
    # restoration: lost positions become (nearly) the codeword of their run; known positions are untouched
    book = torch.eye(k)
    lost = np.zeros((12, 12), bool)
    lost[3, 2:10:2] = True
    filled = restore_lost(ctx, test[0], lost, book)[0]  # (k, 12, 12)
    assert torch.equal(filled[:, ~torch.from_numpy(lost)], book[torch.from_numpy(test[0][~lost])].t())
    chosen = filled[:, torch.from_numpy(lost)].argmax(dim=0).numpy()
    assert np.array_equal(chosen, test[0][lost])
