"""`rcodec train iscs`: fit the channel-conditional predictors of `hyperprior-iscs` on training photos.

Closed form, no gradient steps: for each rate point, ISCS picks the Core channels (parameters only), the
hyperprior gives every latent's mean and scale, and least squares maps the Core residual symbols around each
position to the Auxiliary residuals. A per-channel scale-ladder shift is then chosen to minimise the ideal code
length of the Auxiliary symbols on the same photos. Minutes on one core.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from . import conditional
from .analysis import analyse

EXPORT_FORMAT = "rcodec-iscs-predictors-1"
SHIFTS = range(-8, 1)


def residuals(model, image: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """(y - mu) as float64 (M, h, w) and the scale-table indexes (M, h, w) of an image whose sides are multiples
    of 64, exactly as the codec computes them."""
    x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float() / 255.0
    with torch.no_grad():
        y = model.gain(model.g_a(x), quality)
        z = model.h_a(torch.abs(y) if model.h_a_abs else y)
        if model.z_gain is not None:
            z = z * model.z_gain[quality].view(1, -1, 1, 1)
        z_hat = torch.round(z).clamp(-model.z_limit, model.z_limit)
        indexes, means = model.entropy_parameters(z_hat, quality)
    return (y - means)[0].double().numpy(), indexes[0].numpy().astype(np.int64)


def fit_quality(model, quality: int, images: list[np.ndarray], core_share: float,
                log: Callable[[str], None]) -> tuple[conditional.QualityPredictor, dict]:
    analysis = analyse(model, quality, core_share, coding=True)
    channels = len(analysis.order)
    core = np.zeros(channels, dtype=bool)
    core[analysis.core] = True
    aux = np.flatnonzero(~core)
    data = [residuals(model, image, quality) for image in images]
    features = np.concatenate([conditional.core_features(np.round(r[core])) for r, _ in data])
    targets = np.concatenate([r[aux].reshape(len(aux), -1).T for r, _ in data])
    weights = conditional.fit_weights(features, targets)
    tables = model.y_tables
    shift = np.zeros(len(aux), dtype=np.int64)
    before = after = core_bits = 0.0
    symbols, plain, indexes = [], [], []
    for r, idx in data:
        prediction = conditional.predicted_shift(weights, np.round(r[core]))
        symbols.append(np.round(r[aux] - prediction).reshape(len(aux), -1))
        plain.append(np.round(r[aux]).reshape(len(aux), -1))
        indexes.append(idx[aux].reshape(len(aux), -1))
        before += tables.information_bits(np.round(r[aux]), idx[aux])
        core_bits += tables.information_bits(np.round(r[core]), idx[core])
    symbols, plain, indexes = np.concatenate(symbols, 1), np.concatenate(plain, 1), np.concatenate(indexes, 1)
    for a in range(len(aux)):
        # Each channel keeps the mean prediction only where it shortens the code: with a well-trained hyperprior
        # the linear prediction from the Core can cost more than it saves on some channels.
        options = [(tables.information_bits(values[a], np.clip(indexes[a] + s, 0, tables.count - 1)), s, predicted)
                   for predicted, values in ((True, symbols), (False, plain)) for s in SHIFTS]
        cost, shift[a], predicted = min(options, key=lambda option: option[0])
        if not predicted:
            weights[:, a] = 0
        after += cost
    stats = {"quality": quality + 1, "core_channels": int(core.sum()), "core_bits": core_bits,
             "aux_bits_unconditional": before, "aux_bits_conditional": after,
             "saving_percent": 100 * (before - after) / (before + core_bits)}
    log(f"quality {quality + 1}: {int(core.sum())} Core channels; y bits {before + core_bits:.0f} -> "
        f"{after + core_bits:.0f} ({stats['saving_percent']:.1f}% saved on the training photos)")
    return conditional.QualityPredictor(core, weights, shift), stats


def export(predictors: list[conditional.QualityPredictor], hyperprior_sha256: bytes, path: Path,
           extra: dict) -> None:
    state = {
        "format": EXPORT_FORMAT,
        "hyperprior_sha256": hyperprior_sha256.hex(),
        "qualities": [{"core": torch.from_numpy(p.core), "weights": torch.from_numpy(p.weights.astype(np.int32)),
                       "index_shift": torch.from_numpy(p.index_shift.astype(np.int8))} for p in predictors],
        **extra,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load(path: Path) -> tuple[list[conditional.QualityPredictor], str]:
    """The predictors per quality and the sha256 (hex) of the hyperprior weights they were fitted for."""
    from rcodec import WeightsError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable predictors file ({exc})") from None
    if state.get("format") != EXPORT_FORMAT:
        raise WeightsError(f"{path}: not an rcodec ISCS predictors file")
    predictors = [conditional.QualityPredictor(q["core"].numpy().astype(bool), q["weights"].numpy().astype(np.int64),
                                               q["index_shift"].numpy().astype(np.int64))
                  for q in state["qualities"]]
    return predictors, state["hyperprior_sha256"]
