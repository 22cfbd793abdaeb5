"""Bjontegaard delta rate: the average bitrate difference between two RD curves at equal PSNR.

Piecewise-cubic (monotone) interpolation of log-rate as a function of PSNR over the overlapping PSNR range, the
variant CompressAI and the JVET reports use; negative values mean fewer bits than the reference.
"""

from __future__ import annotations

import numpy as np


def _integral(psnr: np.ndarray, log_rate: np.ndarray, lo: float, hi: float) -> float:
    from scipy.interpolate import PchipInterpolator

    order = np.argsort(psnr)
    curve = PchipInterpolator(psnr[order], log_rate[order])
    return float(curve.integrate(lo, hi))


def bd_rate(rate_ref, psnr_ref, rate_test, psnr_test) -> float | None:
    """Percent rate change of `test` vs `ref`; None when the PSNR ranges do not overlap."""
    r1, p1 = np.log(np.asarray(rate_ref, float)), np.asarray(psnr_ref, float)
    r2, p2 = np.log(np.asarray(rate_test, float)), np.asarray(psnr_test, float)
    if len(p1) < 2 or len(p2) < 2 or len(np.unique(p1)) < 2 or len(np.unique(p2)) < 2:
        return None
    lo, hi = max(p1.min(), p2.min()), min(p1.max(), p2.max())
    if hi <= lo:
        return None
    mean_diff = (_integral(p2, r2, lo, hi) - _integral(p1, r1, lo, hi)) / (hi - lo)
    return float((np.exp(mean_diff) - 1) * 100)
