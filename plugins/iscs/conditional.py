"""Conditional entropy parameters for the slices of `hyperprior-iscs`, predicted from what is already decoded.

After the hyperprior has given every latent its mean mu and scale, the residuals y - mu still correlate
- across channels: the Auxiliary channels' residuals with the Core channels' decoded residuals nearby. A linear
  predictor over the 3x3 neighbourhood of every Core channel shifts each Auxiliary mean;
- across space: within a slice, positions are coded in two passes over a checkerboard (He et al. 2021): the
  anchors (x + y even) first, then the rest, whose means get a linear prediction from the decoded anchor
  residuals of the slice's channels at their four direct neighbours.
All predictors are fitted in closed form (least squares) on the training photos, and a per-channel step down the
scale ladder accounts for the variance each prediction removed.

Exactness: the Core residuals are integers and the predictor's weights are integers (units of 2**-FRACTION_BITS),
and every dot product stays below 2**53, so computing it in float64 -- in any order, with any BLAS -- gives the
same exact integer on every machine. The mean shift is that integer times 2**-FRACTION_BITS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRACTION_BITS = 8
WEIGHT_LIMIT = 1 << 15  # |weight| bound; with |residual| <= 2**11 and <= 2**12 features: sums < 2**38, exact
RESIDUAL_LIMIT = 1 << 11
CONTEXT = 3  # neighbourhood side


def core_features(core_symbols: np.ndarray) -> np.ndarray:
    """(h*w, CONTEXT**2 * Kc) float64: each position's Core residual symbols over its 3x3 neighbourhood
    (zeros outside the image), from integer symbols (Kc, h, w)."""
    r = np.clip(core_symbols, -RESIDUAL_LIMIT, RESIDUAL_LIMIT).astype(np.float64)
    k, h, w = r.shape
    pad = CONTEXT // 2
    padded = np.pad(r, ((0, 0), (pad, pad), (pad, pad)))
    shifted = [padded[:, dy : dy + h, dx : dx + w] for dy in range(CONTEXT) for dx in range(CONTEXT)]
    return np.concatenate(shifted).reshape(CONTEXT * CONTEXT * k, h * w).T


def predicted_shift(weights: np.ndarray, core_symbols: np.ndarray) -> np.ndarray:
    """Mean shift (Ka, h, w) float64, exact multiples of 2**-FRACTION_BITS."""
    _, h, w = core_symbols.shape
    exact = core_features(core_symbols) @ weights.astype(np.float64)  # integers below 2**53: exact
    return (exact.T / (1 << FRACTION_BITS)).reshape(weights.shape[1], h, w)


def anchor_mask(height: int, width: int) -> np.ndarray:
    """(h, w) bool: the checkerboard positions coded in a slice's first pass."""
    rows, cols = np.indices((height, width))
    return (rows + cols) % 2 == 0


def anchor_features(symbols: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(n, 4 K) float64: for each non-anchor position (row-major), the anchor symbols of all K channels directly
    above, below, left and right of it (zeros outside the image), from integer symbols (K, h, w)."""
    r = np.clip(np.where(anchors, symbols, 0), -RESIDUAL_LIMIT, RESIDUAL_LIMIT).astype(np.float64)
    k, h, w = r.shape
    padded = np.pad(r, ((0, 0), (1, 1), (1, 1)))
    neighbours = (padded[:, :h, 1:-1], padded[:, 2:, 1:-1], padded[:, 1:-1, :w], padded[:, 1:-1, 2:])
    return np.concatenate([n[:, ~anchors] for n in neighbours]).T


def spatial_shift(weights: np.ndarray, symbols: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Mean shift (K, n) of the non-anchor positions, exact multiples of 2**-FRACTION_BITS (see predicted_shift)."""
    exact = anchor_features(symbols, anchors) @ weights.astype(np.float64)
    return exact.T / (1 << FRACTION_BITS)


AUX_SLICES = 2


def aux_slices(core: np.ndarray) -> list[np.ndarray]:
    """The Auxiliary channels dealt into AUX_SLICES slices (ascending channel numbers, alternately): each slice
    depends on the Core only, so they decode in parallel. Derived from the Core mask, so never stored."""
    aux = np.flatnonzero(~core)
    return [aux[k::AUX_SLICES] for k in range(AUX_SLICES) if len(aux[k::AUX_SLICES])]


@dataclass
class SpatialPredictor:
    """A slice's second checkerboard pass: mean shift from the anchors, and the scale steps of its channels."""

    weights: np.ndarray  # int64 (4 K, K), K = the slice's channels in ascending order
    index_shift: np.ndarray  # int64 (K,): scale-table index offset of the non-anchor positions (<= 0)


@dataclass
class QualityPredictor:
    """One rate point: which channels are Core, and the predictors of its slices."""

    core: np.ndarray  # bool (M,)
    weights: np.ndarray  # int64 (CONTEXT**2 * Kc, Ka), Ka in the order of np.flatnonzero(~core)
    index_shift: np.ndarray  # int64 (Ka,): scale-table index offset per Auxiliary channel (<= 0)
    spatial: list[SpatialPredictor]  # the Core slice, then the Auxiliary slices of aux_slices(core)


def fit_weights(features: np.ndarray, targets: np.ndarray, ridge: float = 1.0) -> np.ndarray:
    """Least squares (with a small ridge) from features (N, F) to continuous residuals (N, Ka); int64 weights."""
    gram = features.T @ features + ridge * np.eye(features.shape[1])
    weights = np.linalg.solve(gram, features.T @ targets)
    return np.clip(np.round(weights * (1 << FRACTION_BITS)), -WEIGHT_LIMIT, WEIGHT_LIMIT).astype(np.int64)


def shifted_indexes(indexes: np.ndarray, shift: np.ndarray, table_count: int) -> np.ndarray:
    """Scale-table indexes (Ka, h, w) moved by each channel's shift, kept inside the ladder."""
    return np.clip(indexes + shift[:, None, None], 0, table_count - 1)
