"""Channel-conditional entropy parameters for the Auxiliary slices, predicted from the decoded Core slice.

After the hyperprior has given every latent its mean mu and scale, the Auxiliary channels' residuals y - mu still
correlate with the Core channels' decoded residuals nearby. A linear predictor over the 3x3 neighbourhood of every
Core channel (fitted in closed form, least squares, on the training photos) shifts each Auxiliary mean, and a
per-channel step down the scale ladder accounts for the variance the prediction removed.

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


AUX_SLICES = 2


def aux_slices(core: np.ndarray) -> list[np.ndarray]:
    """The Auxiliary channels dealt into AUX_SLICES slices (ascending channel numbers, alternately): each slice
    depends on the Core only, so they decode in parallel. Derived from the Core mask, so never stored."""
    aux = np.flatnonzero(~core)
    return [aux[k::AUX_SLICES] for k in range(AUX_SLICES) if len(aux[k::AUX_SLICES])]


@dataclass
class QualityPredictor:
    """One rate point: which channels are Core, and the predictor of the Auxiliary ones."""

    core: np.ndarray  # bool (M,)
    weights: np.ndarray  # int64 (CONTEXT**2 * Kc, Ka), Ka in the order of np.flatnonzero(~core)
    index_shift: np.ndarray  # int64 (Ka,): scale-table index offset per Auxiliary channel (<= 0)


def fit_weights(features: np.ndarray, targets: np.ndarray, ridge: float = 1.0) -> np.ndarray:
    """Least squares (with a small ridge) from features (N, F) to continuous residuals (N, Ka); int64 weights."""
    gram = features.T @ features + ridge * np.eye(features.shape[1])
    weights = np.linalg.solve(gram, features.T @ targets)
    return np.clip(np.round(weights * (1 << FRACTION_BITS)), -WEIGHT_LIMIT, WEIGHT_LIMIT).astype(np.int64)


def shifted_indexes(indexes: np.ndarray, shift: np.ndarray, table_count: int) -> np.ndarray:
    """Scale-table indexes (Ka, h, w) moved by each channel's shift, kept inside the ladder."""
    return np.clip(indexes + shift[:, None, None], 0, table_count - 1)
