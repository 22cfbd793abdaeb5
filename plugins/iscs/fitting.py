"""`rcodec train iscs`: fit the channel-conditional predictors of `hyperprior-iscs` on training photos.

Closed form, no gradient steps: for each rate point, ISCS picks the Core channels (parameters only), the
hyperprior gives every latent's mean and scale, and least squares maps what is decoded before a symbol (the anchor
residuals of its slice around it, the Core residual symbols around it) to its residual. Per channel, a
scale-ladder step is then chosen to minimise the ideal code length on the same photos. A minute on one core.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from . import conditional
from .analysis import analyse

EXPORT_FORMAT = "rcodec-iscs-predictors-3"
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


def choose_steps(predicted: np.ndarray, plain: np.ndarray, indexes: np.ndarray,
                 tables) -> tuple[np.ndarray, np.ndarray, float]:
    """Per channel (rows of (K, N) symbol arrays): whether to keep the mean prediction, and the scale-ladder step
    that minimises the ideal code length. Returns (keep (K,) bool, step (K,) int64, total bits)."""
    keep = np.zeros(len(predicted), dtype=bool)
    steps = np.zeros(len(predicted), dtype=np.int64)
    total = 0.0
    for c in range(len(predicted)):
        # With a well-trained hyperprior a linear prediction can cost more than it saves on some channels.
        options = [(tables.information_bits(values[c], np.clip(indexes[c] + s, 0, tables.count - 1)), s, flag)
                   for flag, values in ((True, predicted), (False, plain)) for s in SHIFTS]
        cost, steps[c], keep[c] = min(options, key=lambda option: option[0])
        total += cost
    return keep, steps, total


def fit_spatial(data: list[tuple[np.ndarray, np.ndarray]],
                tables) -> tuple[conditional.SpatialPredictor, list[np.ndarray], float]:
    """Fit a slice's later passes from its continuous residuals and table indexes ((K, h, w) per image).

    Returns the predictor, every image's coded symbols (K, h, w) and the ideal bits of the slice."""
    masks = [conditional.pass_masks(*r.shape[1:]) for r, _ in data]
    symbols = [np.round(r) for r, _ in data]  # pass 0 as coded; later passes are replaced as they are fitted
    bits = sum(tables.information_bits(s[:, m[0]], i[:, m[0]]) for s, (_, i), m in zip(symbols, data, masks))
    weights_per_pass, steps_per_pass = [], []
    for p, neighbours in enumerate(conditional.PASS_NEIGHBOURS[1:], start=1):
        decoded = [np.logical_or.reduce(m[:p]) for m in masks]
        features = [conditional.context_features(s, d, m[p], neighbours)
                    for s, d, m in zip(symbols, decoded, masks)]
        targets = [r[:, m[p]].T for (r, _), m in zip(data, masks)]
        weights = conditional.fit_weights(np.concatenate(features), np.concatenate(targets))
        shifts = [f @ weights.astype(np.float64) / (1 << conditional.FRACTION_BITS) for f in features]
        predicted = np.concatenate([np.round(t - sh) for t, sh in zip(targets, shifts)]).T
        plain = np.concatenate([np.round(t) for t in targets]).T
        indexes = np.concatenate([i[:, m[p]] for (_, i), m in zip(data, masks)], 1)
        keep, steps, pass_bits = choose_steps(predicted, plain, indexes, tables)
        weights[:, ~keep] = 0
        bits += pass_bits
        for s, (r, _), m, f in zip(symbols, data, masks, features):
            s[:, m[p]] = np.round(r[:, m[p]] - (f @ weights.astype(np.float64)).T / (1 << conditional.FRACTION_BITS))
        weights_per_pass.append(weights)
        steps_per_pass.append(steps)
    return conditional.SpatialPredictor(weights_per_pass, steps_per_pass), symbols, bits


def fit_quality(model, quality: int, images: list[np.ndarray], core_share: float,
                log: Callable[[str], None]) -> tuple[conditional.QualityPredictor, dict]:
    analysis = analyse(model, quality, core_share, coding=True)
    channels = len(analysis.order)
    core = np.zeros(channels, dtype=bool)
    core[analysis.core] = True
    aux = np.flatnonzero(~core)
    tables = model.y_tables
    data = [residuals(model, image, quality) for image in images]
    plain_bits = sum(tables.information_bits(np.round(r), i) for r, i in data)
    # 1. The Core slice: checkerboard passes on the hyperprior's parameters.
    core_spatial, core_symbols, core_bits = fit_spatial([(r[core], i[core]) for r, i in data], tables)
    # 2. Channel conditioning: Auxiliary means from the decoded Core symbols around each position.
    features = np.concatenate([conditional.core_features(s) for s in core_symbols])
    targets = np.concatenate([r[aux].reshape(len(aux), -1).T for r, _ in data])
    weights = conditional.fit_weights(features, targets)
    shifts = [conditional.predicted_shift(weights, s) for s in core_symbols]
    predicted = np.concatenate([np.round(r[aux] - p).reshape(len(aux), -1) for (r, _), p in zip(data, shifts)], 1)
    plain = np.concatenate([np.round(r[aux]).reshape(len(aux), -1) for r, _ in data], 1)
    indexes = np.concatenate([i[aux].reshape(len(aux), -1) for _, i in data], 1)
    keep, index_shift, _ = choose_steps(predicted, plain, indexes, tables)
    weights[:, ~keep] = 0
    # 3. Each Auxiliary slice: checkerboard passes on the channel-conditioned parameters.
    conditioned = [(r[aux] - conditional.predicted_shift(weights, s),
                    conditional.shifted_indexes(i[aux], index_shift, tables.count))
                   for (r, i), s in zip(data, core_symbols)]
    spatial, aux_bits = [core_spatial], 0.0
    for channels in conditional.aux_slices(core):
        rows = np.searchsorted(aux, channels)
        predictor, _, bits = fit_spatial([(r[rows], i[rows]) for r, i in conditioned], tables)
        spatial.append(predictor)
        aux_bits += bits
    after = core_bits + aux_bits
    stats = {"quality": quality + 1, "core_channels": int(core.sum()), "core_bits": core_bits,
             "aux_bits": aux_bits, "plain_bits": plain_bits,
             "saving_percent": 100 * (plain_bits - after) / plain_bits}
    log(f"quality {quality + 1}: {int(core.sum())} Core channels; y bits {plain_bits:.0f} -> {after:.0f} "
        f"({stats['saving_percent']:.1f}% saved on the training photos)")
    return conditional.QualityPredictor(core, weights, index_shift, spatial), stats


def export(predictors: list[conditional.QualityPredictor], hyperprior_sha256: bytes, path: Path,
           extra: dict) -> None:
    state = {
        "format": EXPORT_FORMAT,
        "hyperprior_sha256": hyperprior_sha256.hex(),
        "qualities": [{"core": torch.from_numpy(p.core), "weights": torch.from_numpy(p.weights.astype(np.int32)),
                       "index_shift": torch.from_numpy(p.index_shift.astype(np.int8)),
                       "spatial": [{"weights": [torch.from_numpy(w.astype(np.int32)) for w in sp.weights],
                                    "index_shift": [torch.from_numpy(s.astype(np.int8)) for s in sp.index_shift]}
                                   for sp in p.spatial]} for p in predictors],
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
    def integers(t: torch.Tensor) -> np.ndarray:
        return t.numpy().astype(np.int64)

    predictors = [conditional.QualityPredictor(
        q["core"].numpy().astype(bool), integers(q["weights"]), integers(q["index_shift"]),
        [conditional.SpatialPredictor([integers(w) for w in sp["weights"]], [integers(s) for s in sp["index_shift"]])
         for sp in q["spatial"]])
        for q in state["qualities"]]
    return predictors, state["hyperprior_sha256"]
