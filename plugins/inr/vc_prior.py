"""The learned factorized prior of `inr-vc` latents, shipped as integer tables.

Latents are quantized uniformly, q = round(z / step), with `step` one of a ladder of GRID sizes (ratio 2^-1/2).
For every ladder step and latent dimension the prior is a discretized Laplace fitted at export time to the latents
of training patches; its probabilities are turned into integer frequencies there and shipped, so the decoder only
ever reads integers. Values beyond +-LEVELS go through the escape symbol.
"""

from __future__ import annotations

import numpy as np

GRID = 16
LEVELS = 255
SYMBOLS = 2 * LEVELS + 2  # -LEVELS..LEVELS, then the escape symbol


def fit_prior(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latents (N, D) of training patches -> (steps (GRID,) float64, freqs (GRID, D, SYMBOLS) int32, scales (D,)).

    Export-time only: floats are fine here because only the resulting integers are shipped.
    """
    from rcodec.entropy.tables import quantize_pmf

    z = np.asarray(z, np.float64)
    mu = np.median(z, axis=0)
    b = np.maximum(np.mean(np.abs(z - mu), axis=0), 1e-8)
    steps = 2.0 * float(b.max()) * 2.0 ** (-np.arange(GRID) / 2.0)
    k = np.arange(-LEVELS, LEVELS + 1, dtype=np.float64)

    def cdf(x):
        return np.where(x < 0, 0.5 * np.exp(np.minimum(x, 0)), 1 - 0.5 * np.exp(-np.maximum(x, 0)))

    freqs = np.empty((GRID, z.shape[1], SYMBOLS), np.int64)
    for j, step in enumerate(steps):
        lo = cdf(((k[None, :] - 0.5) * step - mu[:, None]) / b[:, None])
        hi = cdf(((k[None, :] + 0.5) * step - mu[:, None]) / b[:, None])
        mass = hi - lo
        tail = np.maximum(1.0 - mass.sum(axis=1, keepdims=True), 0.0)
        freqs[j] = quantize_pmf(np.concatenate([mass, tail], axis=1) + 1e-6)
    return steps, freqs.astype(np.int32), b


def tables(freqs: np.ndarray):
    """Integer frequencies (GRID, D, SYMBOLS) -> CdfTables, table index j * D + d."""
    from rcodec.entropy import CdfTables

    g, d, s = freqs.shape
    return CdfTables.from_frequencies(np.asarray(freqs, np.int64).reshape(g * d, s), offsets=-LEVELS, escape=True)


def table_indexes(step_index: int | np.ndarray, patches: int, dims: int) -> np.ndarray:
    """Table index of each latent value, patch-major; `step_index` is one ladder step for all patches or one per
    patch (an array of `patches` steps)."""
    if np.ndim(step_index):
        steps = np.asarray(step_index, np.int64).reshape(patches, 1)
        return (steps * dims + np.arange(dims)).ravel().astype(np.int32)
    return np.tile(step_index * dims + np.arange(dims, dtype=np.int32), patches).astype(np.int32)


def quantize(z: np.ndarray, step: float | np.ndarray) -> np.ndarray:
    """round(z / step); `step` a number, or one per patch (shape (N, 1))."""
    return np.round(np.asarray(z, np.float64) / step).astype(np.int32)
