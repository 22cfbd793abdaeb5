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
    `core_features(core_symbols) @ weights`, computed as one convolution over the channels with non-zero weights
    (the others contribute exactly zero), in float32 where that is exact (`exact_dtype`)."""
    import torch
    import torch.nn.functional as F

    k, h, w = core_symbols.shape
    shift = np.zeros((weights.shape[1], h, w))
    channels = np.flatnonzero(weights.any(axis=0))
    if len(channels):
        # Feature f = window position f // k (row-major in the 3x3 window) of Core channel f % k.
        used = weights[:, channels]
        kernel = used.T.reshape(len(channels), CONTEXT, CONTEXT, k).transpose(0, 3, 1, 2)
        r = torch.from_numpy(core_symbols).clamp(-RESIDUAL_LIMIT, RESIDUAL_LIMIT)
        dtype = exact_dtype(float(r.abs().max()), used)
        with torch.no_grad():
            exact = F.conv2d(r.to(dtype)[None], torch.from_numpy(kernel.astype(np.float64)).to(dtype),
                             padding=CONTEXT // 2)[0].double().numpy()
        shift[channels] = exact / (1 << FRACTION_BITS)
    return shift


FLOAT32_EXACT = 1 << 24  # every integer of magnitude up to 2**24 is a float32


def exact_dtype(max_abs_input: float, weights: np.ndarray):
    """The cheapest torch dtype that computes the integer dot products `inputs @ weights` exactly.

    float32 when no sum of |input * weight| over any output's weights can reach 2**24: then every product and
    every partial sum, in whatever order a BLAS or convolution kernel adds them, is an integer float32 holds
    exactly, so the result is the same on every machine. That holds for typical latents; otherwise float64 (exact
    below 2**53, see WEIGHT_LIMIT). float32 is also refused when torch is set to compute float32 in lower
    precision (TF32/bf16 matmul or convolution settings)."""
    import torch

    bound = max_abs_input * float(np.abs(weights).sum(axis=0).max(initial=0))
    if bound < FLOAT32_EXACT and _float32_is_ieee():
        return torch.float32
    return torch.float64


def _float32_is_ieee() -> bool:
    import torch

    if torch.get_float32_matmul_precision() != "highest":
        return False
    mkldnn = torch.backends.mkldnn
    settings = [getattr(getattr(mkldnn, op, None), "fp32_precision", "none") for op in ("conv", "matmul")]
    return all(s in ("none", "ieee") for s in settings)


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


@cache
def _stream_order(k: int, height: int, width: int) -> np.ndarray:
    """Flat (K * h * w) indexes into a slice's (K, h, w) grid, in its stream's order: pass by pass, each pass
    channel-major over its positions. Cached per slice shape (read-only)."""
    flat = np.arange(k * height * width).reshape(k, height * width)
    order = np.concatenate([flat[:, layout.positions].ravel() for layout in pass_layouts(height, width)])
    order.flags.writeable = False
    return order


def stream_indexes(slice_indexes: np.ndarray, spatial: SpatialPredictor | None, table_count: int) -> np.ndarray:
    """The table indexes of a slice (K, h, w) in its stream's order (`_stream_order`), with the later passes'
    scale steps applied. They depend on the hyperprior's parameters only, never on decoded symbols: a decoder
    reads a whole slice in one call."""
    k, height, width = slice_indexes.shape
    ordered = slice_indexes.ravel()[_stream_order(k, height, width)]
    if spatial is not None:
        start = k * len(pass_layouts(height, width)[0].positions)
        for p, layout in enumerate(pass_layouts(height, width)[1:]):
            n = k * len(layout.positions)
            part = ordered[start : start + n].reshape(k, -1)
            np.clip(part + spatial.index_shift[p][:, None], 0, table_count - 1, out=part)
            start += n
    return ordered


def unpack_passes(values: np.ndarray, k: int, height: int, width: int) -> np.ndarray:
    """A slice's symbols (K, h, w) float64 from its stream's values (the order of `stream_indexes`)."""
    symbols = np.empty(k * height * width)
    symbols[_stream_order(k, height, width)] = values
    return symbols.reshape(k, height, width)


# The later passes as strided sub-grids: (row parity, column parity) of their positions, and their pass.
_PASS_PARITIES = (((1, 1), 1), ((0, 1), 2), ((1, 0), 2))


def spatial_shift(spatial: SpatialPredictor, symbols: np.ndarray) -> np.ndarray:
    """Mean shift (K, h, w) of a slice's later passes from its whole decoded symbols (K, h, w): every pass reads
    only neighbours of earlier passes (PASS_NEIGHBOURS), so this equals the shifts the encoder applied pass by
    pass (`gathered_shift`). Zero on pass 0.

    Each later pass covers whole strided sub-grids of the latent grid (rows and columns of one parity), so the
    neighbours of all its positions are strided views of the zero-bordered symbols: one matmul per sub-grid."""
    import torch

    k, height, width = symbols.shape
    bordered = torch.zeros((k, height + 2, width + 2), dtype=torch.float64)
    bordered[:, 1:-1, 1:-1] = torch.from_numpy(symbols).clamp(-RESIDUAL_LIMIT, RESIDUAL_LIMIT)
    dtype = exact_dtype(float(bordered.abs().max()), np.concatenate(spatial.weights, axis=1))
    bordered = bordered.to(dtype)
    shift = torch.zeros((k, height, width), dtype=torch.float64)
    for (row, col), p in _PASS_PARITIES:
        rows, cols = (height - row + 1) // 2, (width - col + 1) // 2
        if rows == 0 or cols == 0:
            continue
        # Feature = neighbour * K + channel (the weights' row order), as in gathered_shift.
        features = torch.cat([bordered[:, 1 + row + dy :: 2, 1 + col + dx :: 2][:, :rows, :cols]
                              for dy, dx in PASS_NEIGHBOURS[p]]).reshape(len(PASS_NEIGHBOURS[p]) * k, -1)
        weights = torch.from_numpy(spatial.weights[p - 1].T.astype(np.float64)).to(dtype)
        shift[:, row::2, col::2] = (weights @ features).double().reshape(k, rows, cols)
    return shift.numpy() / (1 << FRACTION_BITS)


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
