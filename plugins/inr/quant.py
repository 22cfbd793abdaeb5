"""Uniform quantization of network parameters and their entropy coding.

Each tensor gets a step 2^(k/4) (k an integer sent in the stream), chosen so its largest weight fits the bit width.
All quantized values share one histogram, sent as integer counts; the coding table is built from those counts by
integer arithmetic only, so encoder and decoder derive the same table everywhere
(`rcodec.entropy.histogram`, also used for the gains of `inr-vc` audio and by the `nirvana` video codec).
"""

from __future__ import annotations

import math

import numpy as np

from rcodec.entropy import CdfTables
from rcodec.entropy.histogram import read_histogram_coded, write_histogram_coded

K_MIN, K_MAX = -96, 31  # step exponents in quarter octaves: 2^-24 .. 2^7.75
_QUARTER = (1.0, 1.189207115002721, 1.4142135623730951, 1.681792830507429)  # 2^(j/4), exact same literal everywhere
FINE_BITS = 14  # first-layer weights: few, and phase-critical
FINE_TENSORS = 2


def step_of(k: int) -> float:
    return math.ldexp(_QUARTER[k % 4], k // 4)


def choose_k(values: np.ndarray, levels: int) -> int:
    """Smallest step exponent whose grid holds max|values| within +-levels."""
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    if peak == 0.0:
        return K_MIN
    k = math.ceil(4 * math.log2(peak / levels))
    while k > K_MIN and peak / step_of(k - 1) <= levels:
        k -= 1
    while k < K_MAX and round(peak / step_of(k)) > levels:
        k += 1
    return min(max(k, K_MIN), K_MAX)


def quantize(tensors: list[np.ndarray], bits: int) -> tuple[list[int], list[np.ndarray]]:
    """The first layer (weight and bias) gets FINE_BITS: its error is multiplied by omega (30 .. 300+)."""
    ks, ints = [], []
    for i, t in enumerate(tensors):
        levels = (1 << ((FINE_BITS if i < FINE_TENSORS else bits) - 1)) - 1
        k = choose_k(t, levels)
        ks.append(k)
        ints.append(np.clip(np.round(t / step_of(k)), -levels, levels).astype(np.int32))
    return ks, ints


def dequantize(ks: list[int], ints: list[np.ndarray]) -> list[np.ndarray]:
    return [q.astype(np.float64) * step_of(k) for k, q in zip(ks, ints)]


def write(sink, ks: list[int], ints: list[np.ndarray], bits: int) -> None:
    levels = (1 << (bits - 1)) - 1
    sink.write(np.asarray(ks, np.int32) - K_MIN, CdfTables.uniform(K_MAX - K_MIN + 1))
    fine = (1 << (FINE_BITS - 1)) - 1
    fine_table = CdfTables.from_pmfs(np.ones((1, 2 * fine + 1)), -fine)
    for q in ints[:FINE_TENSORS]:
        sink.write(q.ravel(), fine_table)
    flat = np.concatenate([q.ravel() for q in ints[FINE_TENSORS:]])
    write_histogram_coded(sink, flat, -levels, 2 * levels + 1)


def read(source, shapes: list[tuple[int, ...]], bits: int) -> tuple[list[int], list[np.ndarray]]:
    levels = (1 << (bits - 1)) - 1
    ks = (source.read(CdfTables.uniform(K_MAX - K_MIN + 1), count=len(shapes)).astype(np.int64) + K_MIN).tolist()
    fine = (1 << (FINE_BITS - 1)) - 1
    fine_table = CdfTables.from_pmfs(np.ones((1, 2 * fine + 1)), -fine)
    ints = [source.read(fine_table, count=int(np.prod(s))).reshape(s) for s in shapes[:FINE_TENSORS]]
    total = sum(int(np.prod(s)) for s in shapes[FINE_TENSORS:])
    flat = read_histogram_coded(source, total, -levels, 2 * levels + 1,
                                "the weight histogram does not match the network size")
    at = 0
    for s in shapes[FINE_TENSORS:]:
        n = int(np.prod(s))
        ints.append(flat[at : at + n].reshape(s))
        at += n
    return ks, ints
