"""Integer CDF tables of the hyperprior codecs, computed once (at export) and shipped as integers."""

from __future__ import annotations

import math

import numpy as np
import torch

from rcodec.entropy import CdfTables

from .fixed_point import ACT_BITS

PRECISION = 16
SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 64  # CompressAI's scale ladder
TAIL_MASS = 1e-9
Z_SEARCH = 512  # the factorized densities are tabulated on [-512, 512]; beyond that is escaped


def scale_ladder() -> np.ndarray:
    return np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))


def gaussian_tables() -> CdfTables:
    """One table per ladder scale, zero-mean discretised Gaussian over [-L, L] plus an escape symbol."""
    pmfs, offsets = [], []
    tail = -_standard_quantile(TAIL_MASS / 2)
    for scale in scale_ladder():
        half = max(1, int(math.ceil(scale * tail)))
        k = torch.arange(-half, half + 1, dtype=torch.float64)
        pmfs.append((torch.special.ndtr((k + 0.5) / scale) - torch.special.ndtr((k - 0.5) / scale)).numpy())
        offsets.append(-half)
    return CdfTables.from_pmfs(pmfs, np.array(offsets), PRECISION, escape=True)


def _standard_quantile(p: float) -> float:
    return float(torch.special.ndtri(torch.tensor(p, dtype=torch.float64)))


def scale_thresholds() -> np.ndarray:
    """The ladder in fixed point (units of 2**-ACT_BITS): a scale s picks the first table whose scale >= s."""
    return np.round(scale_ladder() * (1 << ACT_BITS)).astype(np.int64)


def scale_indexes(scales_fixed: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Table index per symbol from integer scales, by integer comparison only."""
    flat = scales_fixed.flatten().to(torch.int64).contiguous()
    idx = torch.searchsorted(thresholds[:-1].contiguous(), flat, side="left")
    return idx.view(scales_fixed.shape).to(torch.int32)


def bottleneck_tables(entropy_bottleneck) -> CdfTables:
    """Per-channel tables of a CompressAI EntropyBottleneck density on the integer grid (z = round(z))."""
    channels = entropy_bottleneck.channels if hasattr(entropy_bottleneck, "channels") else \
        entropy_bottleneck._biases[0].shape[0]
    grid = torch.arange(-Z_SEARCH, Z_SEARCH + 1, dtype=torch.float32)
    samples = grid.view(1, 1, -1).repeat(channels, 1, 1)
    with torch.no_grad():
        pmf = entropy_bottleneck._likelihood(samples, stop_gradient=True)[0][:, 0, :].double().numpy()
    pmfs, offsets = [], []
    for row in pmf:
        keep = np.nonzero(row > TAIL_MASS)[0]
        lo, hi = (int(keep[0]), int(keep[-1])) if keep.size else (Z_SEARCH, Z_SEARCH)
        pmfs.append(row[lo : hi + 1])
        offsets.append(lo - Z_SEARCH)
    return CdfTables.from_pmfs(pmfs, np.array(offsets), PRECISION, escape=True)


def tables_to_state(tables: CdfTables) -> dict[str, torch.Tensor]:
    return {"cdf": torch.from_numpy(tables.cdf), "lengths": torch.from_numpy(tables.lengths),
            "offsets": torch.from_numpy(tables.offsets), "precision": tables.precision}


def tables_from_state(state: dict) -> CdfTables:
    return CdfTables(state["cdf"].numpy(), state["lengths"].numpy(), state["offsets"].numpy(),
                     int(state["precision"]), escape=True)
