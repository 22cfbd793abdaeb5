"""Zero-mean Gaussian coding tables on a ladder of scales, and the integer rule that picks a table for a scale.

A scale is given in fixed point (units of 2**-FIXED_BITS); its table is the first on the ladder whose scale is at
least as large: an integer comparison, so encoder and decoder pick the same table on every machine. The tables
themselves come from float arithmetic: compute them once, ship them as integers (`CdfTables` arrays) with the
weights, and load them from there (as the `hyperprior` codec does).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from rcodec.entropy import CdfTables

FIXED_BITS = 12
PRECISION = 16
SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 64  # CompressAI's scale ladder
TAIL_MASS = 1e-9


def scale_ladder() -> np.ndarray:
    return np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))


def gaussian_tables() -> CdfTables:
    """One table per ladder scale, zero-mean discretised Gaussian over [-L, L] plus an escape symbol."""
    pmfs, offsets = [], []
    tail = -float(torch.special.ndtri(torch.tensor(TAIL_MASS / 2, dtype=torch.float64)))
    for scale in scale_ladder():
        half = max(1, int(math.ceil(scale * tail)))
        k = torch.arange(-half, half + 1, dtype=torch.float64)
        pmfs.append((torch.special.ndtr((k + 0.5) / scale) - torch.special.ndtr((k - 0.5) / scale)).numpy())
        offsets.append(-half)
    return CdfTables.from_pmfs(pmfs, np.array(offsets), PRECISION, escape=True)


def scale_thresholds() -> np.ndarray:
    """The ladder in fixed point (units of 2**-FIXED_BITS): a scale s picks the first table whose scale >= s."""
    return np.round(scale_ladder() * (1 << FIXED_BITS)).astype(np.int64)


def scale_indexes(scales_fixed: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Table index per symbol from integer scales, by integer comparison only."""
    flat = scales_fixed.flatten().to(torch.int64).contiguous()
    idx = torch.searchsorted(thresholds[:-1].contiguous(), flat, side="left")
    return idx.view(scales_fixed.shape).to(torch.int32)
