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
from functools import cache

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
    """Mean shift (Ka, h, w) float64, exact multiples of 2**-FRACTION_BITS: the same numbers as
    `core_features(core_symbols) @ weights`, computed as one float64 convolution over the channels with non-zero
    weights (the others contribute exactly zero)."""
    import torch
    import torch.nn.functional as F

    k, h, w = core_symbols.shape
    shift = np.zeros((weights.shape[1], h, w))
    channels = np.flatnonzero(weights.any(axis=0))
    if len(channels):
        # Feature f = window position f // k (row-major in the 3x3 window) of Core channel f % k.
        kernel = weights[:, channels].T.reshape(len(channels), CONTEXT, CONTEXT, k).transpose(0, 3, 1, 2)
        r = np.clip(core_symbols, -RESIDUAL_LIMIT, RESIDUAL_LIMIT).astype(np.float64)
        with torch.no_grad():
            exact = F.conv2d(torch.from_numpy(r)[None], torch.from_numpy(kernel.astype(np.float64)),
                             padding=CONTEXT // 2)[0].numpy()  # integers below 2**53: exact in any order
        shift[channels] = exact / (1 << FRACTION_BITS)
    return shift


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


@dataclass(frozen=True)
class PassLayout:
    """Where one pass of a slice lies on the flattened (h * w) latent grid, for coding.

    `positions`: the pass's flat indexes, row-major (the coding order). `neighbours`: (n, len(PASS_NEIGHBOURS[p]))
    flat indexes of each position's context neighbours, or h * w (one past the grid, a zero) outside the image."""

    positions: np.ndarray
    neighbours: np.ndarray


@cache
def pass_layouts(height: int, width: int) -> tuple[PassLayout, ...]:
    """The layouts of `pass_masks(height, width)`, cached per grid size (arrays are read-only)."""
    layouts = []
    for mask, offsets in zip(pass_masks(height, width), PASS_NEIGHBOURS):
        rows, cols = np.nonzero(mask)
        columns = []
        for dy, dx in offsets:
            y, x = rows + dy, cols + dx
            inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
            columns.append(np.where(inside, y * width + x, height * width))
        neighbours = np.stack(columns, axis=1) if columns else np.zeros((len(rows), 0), dtype=np.int64)
        positions = rows * width + cols
        positions.flags.writeable = neighbours.flags.writeable = False
        layouts.append(PassLayout(positions, neighbours))
    return tuple(layouts)


def gathered_shift(weights: np.ndarray, context: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Mean shift (K, n) from `context` (K, h * w + 1), clipped symbols with a trailing zero column, at the
    `neighbours` of a PassLayout: the same numbers as `context_shift` (exact, see predicted_shift)."""
    import torch

    k = context.shape[0]
    n, m = neighbours.shape
    features = context[:, neighbours].transpose(1, 2, 0).reshape(n, m * k)  # feature = neighbour * K + channel
    # torch's matmul, not numpy's: numpy's BLAS threads keep spinning after the call and slow down the synthesis
    # transform that runs next on the same cores.
    exact = torch.from_numpy(features) @ torch.from_numpy(weights.astype(np.float64))
    return exact.numpy().T / (1 << FRACTION_BITS)


def stream_indexes(slice_indexes: np.ndarray, spatial: SpatialPredictor | None, table_count: int) -> np.ndarray:
    """The table indexes of a slice (K, h, w) in its stream's order: pass by pass, each pass channel-major over
    its positions, with the pass's scale steps applied. They depend on the hyperprior's parameters only, never on
    decoded symbols: a decoder reads a whole slice in one call."""
    k, height, width = slice_indexes.shape
    flat = slice_indexes.reshape(k, -1)
    parts = []
    for p, layout in enumerate(pass_layouts(height, width)):
        part = flat[:, layout.positions]
        if p and spatial is not None:
            part = np.clip(part + spatial.index_shift[p - 1][:, None], 0, table_count - 1)
        parts.append(part.ravel())
    return np.concatenate(parts)


def unpack_passes(values: np.ndarray, k: int, height: int, width: int) -> np.ndarray:
    """A slice's symbols (K, h, w) float64 from its stream's values (the order of `stream_indexes`)."""
    symbols = np.empty((k, height * width))
    start = 0
    for layout in pass_layouts(height, width):
        n = k * len(layout.positions)
        symbols[:, layout.positions] = values[start : start + n].reshape(k, -1)
        start += n
    return symbols.reshape(k, height, width)


def spatial_shift(spatial: SpatialPredictor, symbols: np.ndarray) -> np.ndarray:
    """Mean shift (K, h, w) of a slice's later passes from its whole decoded symbols (K, h, w): every pass reads
    only neighbours of earlier passes (PASS_NEIGHBOURS), so this equals the shifts the encoder applied pass by
    pass. Zero on pass 0."""
    k, height, width = symbols.shape
    context = np.zeros((k, height * width + 1))
    context[:, :-1] = np.clip(symbols.reshape(k, -1), -RESIDUAL_LIMIT, RESIDUAL_LIMIT)
    shift = np.zeros((k, height * width))
    for p, layout in enumerate(pass_layouts(height, width)):
        if p:
            shift[:, layout.positions] = gathered_shift(spatial.weights[p - 1], context, layout.neighbours)
    return shift.reshape(k, height, width)


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
