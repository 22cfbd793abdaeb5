"""Conditional entropy parameters for the slices of `hyperprior-iscs`, predicted from what is already decoded.

After the hyperprior has given every latent its mean mu and scale, the residuals y - mu still correlate
- across channels: the Auxiliary channels' residuals with the Core channels' decoded residuals nearby. A linear
  predictor over the 3x3 neighbourhood of every Core channel shifts each Auxiliary mean;
- across space: within a slice, positions are coded in three passes (a checkerboard, He et al. 2021, whose
  anchors are split in two): every mean of a later pass gets a linear prediction from the decoded residuals of
  the slice's channels at its four nearest decoded neighbours (PASS_NEIGHBOURS).
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


def core_features(core_symbols: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """(h*w, CONTEXT**2 * Kc) float64: each position's Core residual symbols over its 3x3 neighbourhood
    (zeros outside the image), from integer symbols (Kc, h, w). Feature f is neighbour f // Kc (row-major in the
    3x3 window) of Core channel f % Kc; `rows` picks a subset of the features (all by default)."""
    r = np.clip(core_symbols, -RESIDUAL_LIMIT, RESIDUAL_LIMIT).astype(np.float64)
    k, h, w = r.shape
    pad = CONTEXT // 2
    padded = np.pad(r, ((0, 0), (pad, pad), (pad, pad)))
    if rows is None:
        rows = np.arange(CONTEXT * CONTEXT * k)
    windows = [divmod(int(f) // k, CONTEXT) + (int(f) % k,) for f in rows]
    return np.stack([padded[c, dy : dy + h, dx : dx + w].ravel() for dy, dx, c in windows], axis=1) \
        if len(windows) else np.zeros((h * w, 0))


def predicted_shift(weights: np.ndarray, core_symbols: np.ndarray) -> np.ndarray:
    """Mean shift (Ka, h, w) float64, exact multiples of 2**-FRACTION_BITS. Only the features and channels with
    non-zero weights are computed: the others contribute exactly zero."""
    _, h, w = core_symbols.shape
    shift = np.zeros((weights.shape[1], h * w))
    channels = np.flatnonzero(weights.any(axis=0))
    rows = np.flatnonzero(weights[:, channels].any(axis=1))
    if len(channels) and len(rows):
        used = weights[np.ix_(rows, channels)].astype(np.float64)
        exact = core_features(core_symbols, rows) @ used  # integers below 2**53: exact
        shift[channels] = exact.T / (1 << FRACTION_BITS)
    return shift.reshape(weights.shape[1], h, w)


# Passes over the positions of a slice (rows r, columns c of the latent grid), in coding order, and the
# neighbours each later pass reads, all of them decoded in an earlier pass:
#   0: r and c even       -- the hyperprior's parameters only
#   1: r and c odd        -- the four diagonal neighbours (pass 0)
#   2: r + c odd          -- the four direct neighbours (passes 0 and 1)
PASS_NEIGHBOURS: tuple[tuple[tuple[int, int], ...], ...] = (
    (),
    ((-1, -1), (-1, 1), (1, -1), (1, 1)),
    ((-1, 0), (1, 0), (0, -1), (0, 1)),
)


def pass_masks(height: int, width: int) -> list[np.ndarray]:
    """The (h, w) bool masks of the coding passes of a slice (see PASS_NEIGHBOURS); they partition the grid."""
    rows, cols = np.indices((height, width))
    first = (rows % 2 == 0) & (cols % 2 == 0)
    second = (rows % 2 == 1) & (cols % 2 == 1)
    return [first, second, ~(first | second)]


def context_features(symbols: np.ndarray, decoded: np.ndarray, positions: np.ndarray,
                     neighbours: tuple[tuple[int, int], ...]) -> np.ndarray:
    """(n, len(neighbours) * K) float64: for each position where `positions` is true (row-major), the symbols of
    all K channels at each neighbour offset, taken only where `decoded` is true (zeros elsewhere and outside the
    image), from integer symbols (K, h, w)."""
    r = np.clip(np.where(decoded, symbols, 0), -RESIDUAL_LIMIT, RESIDUAL_LIMIT).astype(np.float64)
    _, h, w = r.shape
    padded = np.pad(r, ((0, 0), (1, 1), (1, 1)))
    return np.concatenate([padded[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w][:, positions]
                           for dy, dx in neighbours]).T


def context_shift(weights: np.ndarray, symbols: np.ndarray, decoded: np.ndarray, positions: np.ndarray,
                  neighbours: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Mean shift (K, n) of the positions, exact multiples of 2**-FRACTION_BITS (see predicted_shift)."""
    exact = context_features(symbols, decoded, positions, neighbours) @ weights.astype(np.float64)
    return exact.T / (1 << FRACTION_BITS)


AUX_SLICES = 2


def aux_slices(core: np.ndarray) -> list[np.ndarray]:
    """The Auxiliary channels dealt into AUX_SLICES slices (ascending channel numbers, alternately): each slice
    depends on the Core only, so they decode in parallel. Derived from the Core mask, so never stored."""
    aux = np.flatnonzero(~core)
    return [aux[k::AUX_SLICES] for k in range(AUX_SLICES) if len(aux[k::AUX_SLICES])]


@dataclass
class SpatialPredictor:
    """A slice's later passes (1, 2): mean shift from the decoded neighbours, and the scale steps of its channels."""

    weights: list[np.ndarray]  # per later pass, int64 (4 K, K), K = the slice's channels in ascending order
    index_shift: list[np.ndarray]  # per later pass, int64 (K,): scale-table index offset (<= 0)


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
