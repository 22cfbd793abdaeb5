"""Integer CDF tables of the hyperprior codecs, computed once (at export) and shipped as integers."""

from __future__ import annotations

import numpy as np
import torch

from rcodec.entropy import CdfTables

# The Gaussian scale ladder is rcodec.entropy.latent's public one (the same tables and thresholds as before).
from rcodec.entropy.latent.gaussian import (
    PRECISION,
    TAIL_MASS,
    gaussian_tables,
    scale_indexes,
    scale_ladder,
    scale_thresholds,
)

__all__ = ["PRECISION", "bottleneck_tables", "gaussian_tables", "scale_indexes", "scale_ladder", "scale_thresholds",
           "tables_from_state", "tables_to_state"]

Z_SEARCH = 512  # the factorized densities are tabulated on [-512, 512]; beyond that is escaped


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
