"""Lossless PCM audio: stereo decorrelation, per-frame integer LPC, adaptive entropy coding of the residual.

Samples become integers (8, 16 or 24 bit PCM; float input must sit exactly on such a grid). Stereo goes through
mid/side when that makes the residuals smaller. Each channel is cut into frames; per frame the encoder picks the
predictor with the smallest estimated cost among FLAC-style fixed polynomials and least-squares LPC of several
orders (Levinson-Durbin on the windowed autocorrelation), quantises its coefficients, and sends them. Each
sub-block sends the bit length m of its mean |residual|; the residual is split as r = high * 2**s + low with
s = max(m - 4, 0): `high` goes through an adaptive model chosen by m (silence and quiet passages get models of
their own), the s low bits, close to uniform, directly. Decoding inverts the LPC with a small native loop.
"""

from __future__ import annotations

import numpy as np

from rcodec import MediaError
from rcodec.entropy import CdfTables

from . import _lpc
from .adaptive import AdaptiveContexts

FRAME = 4096
SUB_BLOCK = 1024
MAX_ORDER = 32
LPC_ORDERS = (8, 12, 16, 24, 32)
COEF_BITS = 15  # signed coefficient range [-2**15, 2**15)
MAX_COEF_SHIFT = 20
MAX_MAGNITUDE = 28  # bit length of a sub-block's mean |residual|: 0..28
HIGH_RANGE = 256  # |high| values beyond this are escaped
TARGET_HIGH_BITS = 4  # s = magnitude - 4, so that the mean |high| is about 2**4
CONTEXTS = TARGET_HIGH_BITS + 2  # small magnitudes (s = 0) get a context each; all scaled ones share the last
FIXED = {0: [], 1: [1], 2: [2, -1], 3: [3, -3, 1], 4: [4, -6, 4, -1]}  # FLAC's fixed polynomial predictors

_PREDICTOR = CdfTables.from_pmfs([np.ones(MAX_ORDER + 1), np.ones(MAX_COEF_SHIFT + 1)])
_MAGNITUDE = CdfTables.uniform(MAX_MAGNITUDE + 1)
_UNIFORM_BITS = {b: CdfTables.uniform(1 << b) for b in range(1, 9)}


def to_integers(samples: np.ndarray) -> tuple[np.ndarray, int]:
    """int64 PCM values and their bit depth: the smallest of 8/16/24 on whose grid every sample lies."""
    for bits in (8, 16, 24):
        scaled = samples.astype(np.float64) * (1 << (bits - 1))
        ints = np.round(scaled)
        if np.array_equal(ints, scaled):
            if ints.size and (ints.min() < -(1 << (bits - 1)) or ints.max() >= 1 << (bits - 1)):
                raise MediaError("audio samples outside [-1, 1) cannot be coded losslessly as PCM")
            return ints.astype(np.int64), bits
    raise MediaError("lossless audio needs PCM samples (8, 16 or 24 bit); these float samples lie off that grid")


def from_integers(ints: np.ndarray, bits: int) -> np.ndarray:
    return (ints.astype(np.float64) / (1 << (bits - 1))).astype(np.float32)


def mid_side(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (left + right) >> 1, left - right


def left_right(mid: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    total = (mid << 1) | (side & 1)
    return (total + side) >> 1, (total - side) >> 1


def choose_stereo(ints: np.ndarray) -> bool:
    """True when mid/side gives smaller second-order residuals than left/right."""
    if ints.shape[1] != 2:
        return False
    mid, side = mid_side(ints[:, 0], ints[:, 1])

    def cost(*channels: np.ndarray) -> float:
        return float(sum(np.abs(np.diff(c, n=2)).sum() for c in channels))

    return cost(mid, side) < cost(ints[:, 0], ints[:, 1])


# --- prediction --------------------------------------------------------------------------------------------------

def lpc_residual(frame: np.ndarray, history: np.ndarray, coefs: np.ndarray, shift: int) -> np.ndarray:
    """r[n] = x[n] - ((sum_j coefs[j] * x[n-1-j]) >> shift), exactly as `_lpc.restore` inverts it."""
    order = len(coefs)
    if order == 0:
        return frame.copy()
    padded = np.concatenate([history[len(history) - order :], frame])
    lagged = np.lib.stride_tricks.sliding_window_view(padded[:-1], order)  # row i: x[i-order .. i-1]
    return frame - ((lagged[:, ::-1] @ coefs.astype(np.int64)) >> shift)


def _levinson(autocorr: np.ndarray, order: int) -> list[np.ndarray]:
    """Predictor coefficients for every order 1..order (index k-1 holds order k)."""
    a = np.zeros(0)
    error = autocorr[0]
    out = []
    for k in range(order):
        if error <= 0:
            out.append(np.concatenate([a, np.zeros(order - len(a))])[: k + 1])
            continue
        reflection = (autocorr[k + 1] - a @ autocorr[k:0:-1]) / error
        a = np.concatenate([a - reflection * a[::-1], [reflection]])
        error *= 1 - reflection * reflection
        out.append(a.copy())
    return out


def _quantise(coefs: np.ndarray) -> tuple[np.ndarray, int]:
    peak = float(np.abs(coefs).max()) if coefs.size else 0.0
    if not np.isfinite(peak) or peak == 0:
        return np.zeros(len(coefs), dtype=np.int64), 0
    shift = int(np.clip(COEF_BITS - 1 - int(np.ceil(np.log2(peak + 1e-12))), 0, MAX_COEF_SHIFT))
    limit = 1 << COEF_BITS
    return np.clip(np.round(coefs * (1 << shift)), -limit, limit - 1).astype(np.int64), shift


def _estimated_bits(residual: np.ndarray, order: int) -> float:
    mean = float(np.abs(residual).mean()) if residual.size else 0.0
    return residual.size * np.log2(mean + 1.0) + order * 16


def choose_predictor(frame: np.ndarray, history: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """(coefficients, shift, residual) of the cheapest candidate predictor for this frame."""
    candidates = [(np.array(c, dtype=np.int64), 0) for c in FIXED.values()]
    x = np.concatenate([history, frame]).astype(np.float64)
    window = np.hanning(len(x)) if len(x) > 2 else np.ones(len(x))
    xw = x * window
    autocorr = np.array([xw[: len(xw) - k] @ xw[k:] for k in range(MAX_ORDER + 1)])
    if autocorr[0] > 0:
        autocorr[0] *= 1 + 1e-9  # a touch of white noise keeps Levinson stable on pure tones
        all_orders = _levinson(autocorr, MAX_ORDER)
        candidates += [_quantise(all_orders[p - 1]) for p in LPC_ORDERS]
    best = None
    for coefs, shift in candidates:
        residual = lpc_residual(frame, history, coefs, shift)
        bits = _estimated_bits(residual, len(coefs))
        if best is None or bits < best[0]:
            best = (bits, coefs, shift, residual)
    assert best is not None
    return best[1], best[2], best[3]


# --- entropy coding ----------------------------------------------------------------------------------------------

def _magnitude(residual: np.ndarray) -> int:
    mean = float(np.abs(residual).mean()) if residual.size else 0.0
    return min(int(mean).bit_length(), MAX_MAGNITUDE)


def _shift_and_context(magnitude: int) -> tuple[int, int]:
    return max(magnitude - TARGET_HIGH_BITS, 0), min(magnitude, CONTEXTS - 1)


def _write_bits(sink, values: np.ndarray, bits: int) -> None:
    done = 0
    while done < bits:  # 8 bits at a time, most significant chunk first
        take = min(8, bits - done)
        sink.write((values >> (bits - done - take)) & ((1 << take) - 1), _UNIFORM_BITS[take])
        done += take


def _read_bits(source, count: int, bits: int) -> np.ndarray:
    out = np.zeros(count, dtype=np.int64)
    done = 0
    while done < bits:
        take = min(8, bits - done)
        out = (out << take) | source.read(_UNIFORM_BITS[take], count=count).astype(np.int64)
        done += take
    return out


def _laplace_prior() -> np.ndarray:
    """Per context, a discrete Laplace pmf of the mean |high| that context implies (escape symbol last)."""
    values = np.arange(-HIGH_RANGE, HIGH_RANGE + 1)
    rows = []
    for context in range(CONTEXTS):
        mean = 0.1 if context == 0 else 0.75 * (1 << context)  # m = 0: mostly zeros; else |r| in [2**(m-1), 2**m)
        pmf = np.exp(-np.abs(values) / mean)
        pmf[-1] = 0.0
        rows.append(pmf / pmf.sum())
    return np.array(rows)


_PRIOR = _laplace_prior()
PRIOR_WEIGHT = 1 << 13  # worth 256 observations


def _new_model() -> AdaptiveContexts:
    return AdaptiveContexts(CONTEXTS, 2 * HIGH_RANGE + 1, -HIGH_RANGE, escape=True, prior=_PRIOR,
                            prior_weight=PRIOR_WEIGHT)


def _history(channel: np.ndarray, start: int) -> np.ndarray:
    before = channel[max(0, start - MAX_ORDER) : start]
    return np.concatenate([np.zeros(MAX_ORDER - len(before), dtype=np.int64), before])


def encode_channels(channels: list[np.ndarray], sink) -> None:
    models = [_new_model() for _ in channels]
    frames = len(channels[0])
    for start in range(0, frames, FRAME):
        for channel, model in zip(channels, models):
            coefs, coef_shift, residual = choose_predictor(channel[start : start + FRAME], _history(channel, start))
            sink.write(np.array([len(coefs), coef_shift]), _PREDICTOR, np.array([0, 1]))
            _write_bits(sink, coefs + (1 << COEF_BITS), COEF_BITS + 1)
            for sub in range(0, len(residual), SUB_BLOCK):
                part = residual[sub : sub + SUB_BLOCK]
                magnitude = _magnitude(part)
                shift, context = _shift_and_context(magnitude)
                high, low = part >> shift, part & ((1 << shift) - 1)
                contexts = np.full(len(high), context, dtype=np.int64)
                sink.write(np.array([magnitude]), _MAGNITUDE)
                sink.write(high, model.tables(), contexts)
                _write_bits(sink, low, shift)
                model.update(contexts, high)


def decode_channels(frames: int, count: int, source) -> list[np.ndarray]:
    channels = [np.zeros(frames, dtype=np.int64) for _ in range(count)]
    models = [_new_model() for _ in channels]
    for start in range(0, frames, FRAME):
        n = min(FRAME, frames - start)
        for channel, model in zip(channels, models):
            order, coef_shift = (int(v) for v in source.read(_PREDICTOR, np.array([0, 1])))
            coefs = _read_bits(source, order, COEF_BITS + 1) - (1 << COEF_BITS)
            residual = np.empty(n, dtype=np.int64)
            for sub in range(0, n, SUB_BLOCK):
                m = min(SUB_BLOCK, n - sub)
                shift, context = _shift_and_context(int(source.read(_MAGNITUDE, count=1)[0]))
                contexts = np.full(m, context, dtype=np.int64)
                high = source.read(model.tables(), contexts).astype(np.int64)
                residual[sub : sub + m] = (high << shift) + _read_bits(source, m, shift)
                model.update(contexts, high)
            channel[start : start + n] = _lpc.restore(residual, coefs, coef_shift, _history(channel, start))
    return channels
