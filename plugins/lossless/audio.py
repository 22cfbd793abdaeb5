"""Lossless PCM audio: stereo decorrelation, per-block polynomial prediction, adaptive entropy coding.

Samples become integers (8, 16 or 24 bit PCM; float input must sit exactly on such a grid). Stereo goes through
mid/side when that makes the residuals smaller. Each channel is cut into blocks; per block the encoder picks a
fixed polynomial predictor of order 0..4 (the k-th difference, as in FLAC's fixed subframes) and a shift s, and
sends both. The residual r = high * 2**s + low: `high` is coded with an adaptive model, the s low bits, which are
close to uniform, directly. Decoding a block is k cumulative sums, with no per-sample Python loop.
"""

from __future__ import annotations

import numpy as np

from rcodec import MediaError
from rcodec.entropy import CdfTables

from .adaptive import AdaptiveContexts

BLOCK = 1024
MAX_ORDER = 4
MAX_SHIFT = 24
HIGH_RANGE = 256  # |high| values beyond this are escaped
TARGET_HIGH_BITS = 4  # pick s so that the mean |high| is about 2**4
_ORDER_SHIFT = CdfTables.from_pmfs([np.ones(MAX_ORDER + 1), np.ones(MAX_SHIFT + 1)])
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


def _residual(block: np.ndarray, history: np.ndarray, order: int) -> np.ndarray:
    """k-th difference of the block, continuing from the `order` samples before it."""
    return np.diff(np.concatenate([history[len(history) - order :], block]), n=order) if order else block


def _integrate(residual: np.ndarray, history: np.ndarray, order: int) -> np.ndarray:
    """Inverse of `_residual`: k cumulative sums started from the differences at the last known sample."""
    starts, h = [], history[len(history) - order :]
    for _ in range(order):
        starts.append(h[-1])
        h = np.diff(h)
    out = residual
    for start in reversed(starts):
        out = start + np.cumsum(out)
    return out


def _shift_for(residual: np.ndarray) -> int:
    mean = float(np.abs(residual).mean()) if residual.size else 0.0
    return int(min(max(int(mean).bit_length() - TARGET_HIGH_BITS, 0), MAX_SHIFT))


def _write_low_bits(sink, low: np.ndarray, shift: int) -> None:
    done = 0
    while done < shift:  # 8 bits at a time, most significant chunk first
        take = min(8, shift - done)
        sink.write((low >> (shift - done - take)) & ((1 << take) - 1), _UNIFORM_BITS[take])
        done += take


def _read_low_bits(source, count: int, shift: int) -> np.ndarray:
    low = np.zeros(count, dtype=np.int64)
    done = 0
    while done < shift:
        take = min(8, shift - done)
        low = (low << take) | source.read(_UNIFORM_BITS[take], count=count).astype(np.int64)
        done += take
    return low


def _new_model() -> AdaptiveContexts:
    return AdaptiveContexts(1, 2 * HIGH_RANGE + 1, -HIGH_RANGE, escape=True)


def _history(channel: np.ndarray, start: int) -> np.ndarray:
    before = channel[max(0, start - MAX_ORDER) : start]
    return np.concatenate([np.zeros(MAX_ORDER - len(before), dtype=np.int64), before])


def choose_stereo(ints: np.ndarray) -> bool:
    """True when mid/side gives smaller second-order residuals than left/right."""
    if ints.shape[1] != 2:
        return False
    mid, side = mid_side(ints[:, 0], ints[:, 1])
    cost = lambda *chs: sum(np.abs(np.diff(c, n=2)).sum() for c in chs)  # noqa: E731
    return bool(cost(mid, side) < cost(ints[:, 0], ints[:, 1]))


def encode_channels(channels: list[np.ndarray], sink) -> None:
    models = [_new_model() for _ in channels]
    frames = len(channels[0])
    zero_ctx = np.zeros(BLOCK, dtype=np.int64)
    for start in range(0, frames, BLOCK):
        for channel, model in zip(channels, models):
            block = channel[start : start + BLOCK]
            history = _history(channel, start)
            candidates = [_residual(block, history, k) for k in range(MAX_ORDER + 1)]
            order = int(np.argmin([np.abs(r).sum() for r in candidates]))
            residual = candidates[order]
            shift = _shift_for(residual)
            high, low = residual >> shift, residual & ((1 << shift) - 1)
            sink.write(np.array([order, shift]), _ORDER_SHIFT, np.array([0, 1]))
            sink.write(high, model.tables())
            _write_low_bits(sink, low, shift)
            model.update(zero_ctx[: len(high)], high)


def decode_channels(frames: int, count: int, source) -> list[np.ndarray]:
    channels = [np.zeros(frames, dtype=np.int64) for _ in range(count)]
    models = [_new_model() for _ in channels]
    zero_ctx = np.zeros(BLOCK, dtype=np.int64)
    for start in range(0, frames, BLOCK):
        n = min(BLOCK, frames - start)
        for channel, model in zip(channels, models):
            order, shift = (int(v) for v in source.read(_ORDER_SHIFT, np.array([0, 1])))
            high = source.read(model.tables(), count=n).astype(np.int64)
            low = _read_low_bits(source, n, shift)
            residual = (high << shift) + low
            channel[start : start + n] = _integrate(residual, _history(channel, start), order)
            model.update(zero_ctx[:n], high)
    return channels
