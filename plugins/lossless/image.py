"""Lossless images: reversible colour transform, per-row prediction, context-adaptive entropy coding.

Each plane is coded row by row. For every row the encoder picks the predictor that minimises the residual
magnitude and sends its number. All predictors are either independent of the current row (decoded in one
vectorised step) or the left neighbour plus a term from the row above (decoded with one cumulative sum), so
decoding needs no per-pixel Python loop. Residuals are coded modulo the plane's range with an adaptive model per
context; the context is the local activity measured on the row above, known to the decoder before the row.
"""

from __future__ import annotations

import numpy as np

from rcodec import MediaError
from rcodec.entropy import CdfTables

from .adaptive import AdaptiveContexts

CONTEXTS = 12
PREDICTORS = ("up", "left", "plane", "half-plane", "up-avg")
_MODE_TABLE = CdfTables.uniform(len(PREDICTORS))


def forward_colour(img: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Planes as (int64 array, lowest value); RGB(A) goes through the JPEG 2000 reversible colour transform."""
    x = img.astype(np.int64)
    if x.ndim == 2:
        return [(x, 0)]
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    planes = [((r + 2 * g + b) >> 2, 0), (b - g, -255), (r - g, -255)]
    if x.shape[2] == 4:
        planes.append((x[..., 3], 0))
    return planes


def inverse_colour(planes: list[np.ndarray], channels: int) -> np.ndarray:
    if channels == 1:
        return planes[0].astype(np.uint8)
    y, u, v = planes[:3]
    g = y - ((u + v) >> 2)
    out = [v + g, g, u + g] + ([planes[3]] if channels == 4 else [])
    return np.stack(out, axis=-1).astype(np.uint8)


def _modulus(lowest: int) -> int:
    return 256 if lowest == 0 else 512


def _row_terms(above: np.ndarray) -> dict[str, np.ndarray]:
    """What each predictor takes from the row above (b: above, c: above-left, d: above-right)."""
    b = above
    c = np.concatenate([b[:1], b[:-1]])
    d = np.concatenate([b[1:], b[-1:]])
    return {"b": b, "c": c, "d": d}


def _predict_static(mode: int, t: dict[str, np.ndarray]) -> np.ndarray:
    return t["b"] if mode == 0 else (t["b"] + t["d"]) >> 1


def _left_increment(mode: int, t: dict[str, np.ndarray]) -> np.ndarray:
    """g in x[i] = x[i-1] + g[i] + r[i] for the left-anchored predictors."""
    if mode == 1:
        return np.zeros_like(t["b"])
    if mode == 2:
        return t["b"] - t["c"]
    return (t["b"] - t["c"]) >> 1


def _wrap(values: np.ndarray, lowest: int, modulus: int) -> np.ndarray:
    return (values - lowest) % modulus + lowest


def _centre(residual: np.ndarray, modulus: int) -> np.ndarray:
    half = modulus // 2
    return (residual + half) % modulus - half


def _residuals(row: np.ndarray, mode: int, t: dict[str, np.ndarray], modulus: int) -> np.ndarray:
    if mode in (0, 4):
        pred = _predict_static(mode, t)
    else:
        left = np.concatenate([t["b"][:1], row[:-1]])  # left of column 0 is the pixel above it
        pred = left + _left_increment(mode, t)
    return _centre(row - pred, modulus)


def _reconstruct(residual: np.ndarray, mode: int, t: dict[str, np.ndarray], lowest: int, modulus: int) -> np.ndarray:
    if mode in (0, 4):
        return _wrap(_predict_static(mode, t) + residual, lowest, modulus)
    return _wrap(t["b"][0] + np.cumsum(_left_increment(mode, t) + residual), lowest, modulus)


def _contexts(t: dict[str, np.ndarray], residual_above: np.ndarray) -> np.ndarray:
    activity = np.abs(t["b"] - t["c"]) + np.abs(t["d"] - t["b"]) + np.abs(residual_above)
    # bit length of the activity, capped: 0, 1, 2-3, 4-7, ...
    return np.minimum(np.floor(np.log2(activity + 1)).astype(np.int64), CONTEXTS - 1)


def _laplace_prior(modulus: int) -> np.ndarray:
    """Per context, a discrete Laplace pmf whose width follows the activity the context stands for."""
    values = np.arange(modulus) - modulus // 2
    rows = []
    for context in range(CONTEXTS):
        pmf = np.exp(-np.abs(values) / (0.7 + 0.5 * (1 << context)))
        rows.append(pmf / pmf.sum())
    return np.array(rows)


_PRIORS = {m: _laplace_prior(m) for m in (256, 512)}
PRIOR_WEIGHT = 1 << 12  # worth 128 observations


class _PlaneCoder:
    """State shared by encoder and decoder for one plane: the models and the previous row."""

    def __init__(self, width: int, lowest: int) -> None:
        self.lowest, self.modulus = lowest, _modulus(lowest)
        half = self.modulus // 2
        self.model = AdaptiveContexts(CONTEXTS, self.modulus, -half, prior=_PRIORS[self.modulus],
                                      prior_weight=PRIOR_WEIGHT)
        self.above = np.full(width, max(lowest, 0), dtype=np.int64)
        self.residual_above = np.zeros(width, dtype=np.int64)

    def advance(self, row: np.ndarray, residual: np.ndarray, contexts: np.ndarray) -> None:
        self.model.update(contexts, residual)
        self.above, self.residual_above = row, residual


def encode_image(img: np.ndarray, sink) -> None:
    planes = forward_colour(img)
    width = img.shape[1]
    coders = [_PlaneCoder(width, lowest) for _, lowest in planes]
    for y in range(img.shape[0]):
        for (plane, _), pc in zip(planes, coders):
            row = plane[y]
            t = _row_terms(pc.above)
            candidates = [_residuals(row, m, t, pc.modulus) for m in range(len(PREDICTORS))]
            mode = int(np.argmin([np.abs(r).sum() for r in candidates]))
            residual = candidates[mode]
            contexts = _contexts(t, pc.residual_above)
            sink.write(np.array([mode]), _MODE_TABLE)
            sink.write(residual, pc.model.tables(), contexts)
            pc.advance(row, residual, contexts)


def decode_image(shape: tuple[int, ...], source) -> np.ndarray:
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (3, 4)) or 0 in shape:
        raise MediaError(f"lossless image codec cannot produce shape {shape}")
    height, width = shape[:2]
    channels = 1 if len(shape) == 2 else shape[2]
    lowests = [0] if channels == 1 else [0, -255, -255] + ([0] if channels == 4 else [])
    coders = [_PlaneCoder(width, lowest) for lowest in lowests]
    planes = [np.empty((height, width), dtype=np.int64) for _ in lowests]
    for y in range(height):
        for plane, pc in zip(planes, coders):
            mode = int(source.read(_MODE_TABLE, count=1)[0])
            t = _row_terms(pc.above)
            contexts = _contexts(t, pc.residual_above)
            residual = source.read(pc.model.tables(), contexts).astype(np.int64)
            row = _reconstruct(residual, mode, t, pc.lowest, pc.modulus)
            plane[y] = row
            pc.advance(row, residual, contexts)
    return inverse_colour(planes, channels)
