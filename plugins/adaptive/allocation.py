"""Image-level token allocation: the fewest bits for which the whole image reaches a target PSNR.

A per-tile target (every tile at least T dB) equalises PSNR across tiles, which is not what minimises the image's
MSE for a given rate: textured tiles are pushed to long prefixes for little MSE, smooth tiles overshoot with their
one token. Here each tile's length is instead chosen by a Lagrangian trade-off,

    length_t = argmin_L  SSE_t(L) + lambda * bits_t(L),

with one lambda per image, the largest (fewest bits) for which the image's total squared error stays within the
target. Total error grows monotonically with lambda along the choices' lower convex hull, so lambda is found by
bisection. Encoder only: the decoder reads lengths from the stream and never knows how they were chosen.
"""

from __future__ import annotations

import numpy as np


def token_bits(idx: np.ndarray, token_freqs: np.ndarray, levels: int) -> np.ndarray:
    """(n, T) ideal bits of each tile's token at each position, under the per-(position, dimension) prior.

    idx: (n, T, C) FSQ symbols; token_freqs: (T * C, Lmax) integer frequencies."""
    n, t, c = idx.shape
    rows = (np.arange(t)[:, None] * c + np.arange(c)[None, :]).ravel()  # (T * C,)
    freqs = token_freqs[rows].astype(np.float64)
    probs = freqs / freqs.sum(axis=1, keepdims=True)
    picked = probs[np.arange(t * c)[None, :], idx.reshape(n, t * c)]
    return -np.log2(np.maximum(picked, 1e-12)).reshape(n, t, c).sum(axis=2)


def prefix_bits(per_position: np.ndarray, ladder: tuple[int, ...]) -> np.ndarray:
    """(n, R) bits of the first ladder[r] tokens of each tile."""
    cumulative = np.concatenate([np.zeros((len(per_position), 1)), np.cumsum(per_position, axis=1)], axis=1)
    return cumulative[:, list(ladder)]


def allocate_at_slope(sse: np.ndarray, bits: np.ndarray, slope: float) -> np.ndarray:
    """Ladder index per tile (n,) minimising SSE + slope * bits, tile by tile: every tile trades error for bits at
    the same rate, which is what minimises the total error of a set of images for their total bits."""
    return np.argmin(sse + slope * bits, axis=1)


def allocate(sse: np.ndarray, bits: np.ndarray, budget: float, iterations: int = 60) -> np.ndarray:
    """Ladder index per tile (n,) minimising total bits subject to sum of SSE <= budget (as near as the discrete
    choices allow). sse and bits: (n, R). If no choice meets the budget, the least-error one of every tile."""

    def choose(lam: float) -> np.ndarray:
        return np.argmin(sse + lam * bits, axis=1)

    rows = np.arange(len(sse))
    best_quality = np.argmin(sse, axis=1)
    if sse[rows, best_quality].sum() > budget:
        return best_quality
    lo, hi = 0.0, 1.0
    while sse[rows, choose(hi)].sum() <= budget and hi < 1e12:
        lo, hi = hi, hi * 4
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if sse[rows, choose(mid)].sum() <= budget:
            lo = mid
        else:
            hi = mid
    return choose(lo)
