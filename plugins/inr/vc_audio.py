"""Audio in `inr-vc`: every channel is cut into segments, and every segment is normalised by a gain sent with it.

The gain is a power of two in quarter octaves (`quant.step_of`, the same exact literals everywhere), the smallest
at or above the segment's peak, so a normalised segment lies in [-1, 1]; it is mapped to [0, 1] for the network.
The base network then learns the shapes of segments, not their loudness: quiet training speech transfers to loud
music. Gains cost a few bits per segment: their histogram is sent as integer counts and the table built from it by
integer arithmetic (as `quant.py` does for weights).

Rate allocation (`segment_steps`): an error in a normalised segment is scaled by its gain on the way out, so for
the least squared error overall a quiet segment's latents are quantized more coarsely: one ladder step (a factor
2^1/2) coarser per half octave below the loudest segment. The decoder derives every segment's step from the
gains and the file's ladder step alone.
"""

from __future__ import annotations

import math

import numpy as np

from rcodec.entropy.histogram import read_histogram_coded, write_histogram_coded

from .quant import step_of

GAIN_K_MIN, GAIN_K_MAX = -64, 0  # gains 2^-16 .. 1 (a silent segment gets the smallest)
GAIN_LEVELS = GAIN_K_MAX - GAIN_K_MIN + 1


def gain_exponents(segments: np.ndarray) -> np.ndarray:
    """(n, segment) samples -> (n,) int32 k: the smallest step_of(k) >= the segment's peak."""
    ks = np.empty(len(segments), np.int32)
    for i, peak in enumerate(np.abs(segments).max(axis=1, initial=0.0).astype(np.float64)):
        k = GAIN_K_MIN if peak <= step_of(GAIN_K_MIN) else min(GAIN_K_MAX, math.ceil(4 * math.log2(peak)))
        while k > GAIN_K_MIN and step_of(k - 1) >= peak:  # log2 rounding: settle on the exact smallest step
            k -= 1
        while k < GAIN_K_MAX and step_of(k) < peak:
            k += 1
        ks[i] = k
    return ks


def gains(ks: np.ndarray) -> np.ndarray:
    return np.array([step_of(int(k)) for k in ks], np.float64)


def normalise(segments: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """(n, segment) samples -> (n, segment, 1) float32 network targets in [0, 1]."""
    return (segments / gains(ks)[:, None] * 0.5 + 0.5).astype(np.float32)[:, :, None]


def denormalise(values: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """(n, segment, 1) network outputs -> (n, segment) samples."""
    return (values[:, :, 0] - 0.5) * 2.0 * gains(ks)[:, None]


def to_mid_side(samples: np.ndarray) -> np.ndarray:
    """Stereo (frames, 2) -> (mid, side) = ((L + R) / 2, (L - R) / 2): the channels of most stereo recordings are
    alike, so the side channel is quiet and its coarse steps (`segment_steps`) cost few bits. Other channel
    counts are coded as they are."""
    if samples.shape[1] != 2:
        return samples
    left, right = samples[:, 0].astype(np.float64), samples[:, 1].astype(np.float64)
    return np.stack([(left + right) * 0.5, (left - right) * 0.5], axis=1)


def from_mid_side(samples: np.ndarray) -> np.ndarray:
    """The inverse of `to_mid_side`, in float64."""
    if samples.shape[1] != 2:
        return samples
    return np.stack([samples[:, 0] + samples[:, 1], samples[:, 0] - samples[:, 1]], axis=1)


def segment_steps(step_index: int, ks: np.ndarray) -> np.ndarray:
    """The ladder step (0 = coarsest) of every segment's latents: `step_index` for the loudest segment, one step
    coarser per two quarter octaves (half an octave) of gain below it, never below 0."""
    offsets = (int(ks.max()) - ks.astype(np.int64)) // 2
    return np.maximum(step_index - offsets, 0)


def write_gains(sink, ks: np.ndarray) -> None:
    write_histogram_coded(sink, ks.astype(np.int32) - GAIN_K_MIN, 0, GAIN_LEVELS)


def read_gains(source, n: int) -> np.ndarray:
    symbols = read_histogram_coded(source, n, 0, GAIN_LEVELS,
                                   "inr-vc: the gain histogram does not match the number of segments")
    return symbols.astype(np.int32) + GAIN_K_MIN


def gain_bits(ks: np.ndarray) -> float:
    """Estimated code length of `write_gains` (for the rate control)."""
    counts = np.bincount(ks.astype(np.int64) - GAIN_K_MIN, minlength=GAIN_LEVELS)
    p = counts[counts > 0] / len(ks)
    return float(-(counts[counts > 0] * np.log2(p)).sum()) + 8.0 * GAIN_LEVELS
