"""`hyperprior-iscs`: the hyperprior codec with its latent channels coded in ISCS groups (slices).

The trained `hyperprior` model (found through the registry, never imported) is used as is. ISCS ranks its
latent channels from the parameters (`analysis.analyse`); the Salient-Core channels form the first slice, the
Auxiliary channels are dealt into two more. Streams: 0 = hyper latent z, 1 = Core slice, 2 and 3 = Auxiliary.

- Channel-conditional (`conditional.py`): an Auxiliary channel's mean is the hyperprior's plus a linear
  prediction from the decoded Core symbols around it, and its scale steps down the ladder by a fitted amount.
  The predictors (`weights/predictors.pt`, `rcodec train iscs`) are fitted in closed form for the shipped
  hyperprior weights; with other weights (`--weights`) the slices are coded without conditioning.
- Spatial passes (`conditional.pass_layouts`): every slice is coded in three passes over its positions; the means
  of the later ones are predicted from the slice's decoded neighbours (`code_slice` in the encoder).
- Only the means depend on decoded symbols; the table indexes follow from the hyperprior's. So the decoder reads
  every slice in one call, the Core slice on a second thread while the Auxiliary ones are read (the native rANS
  decoder, numpy and torch release the GIL), and then computes the means (`_decode_latents`).
- Progressive decode: `core_only=True` (`rcodec decompress --core-only`) reads streams 0 and 1 only; every
  Auxiliary channel gets its predicted mean: a preview from a fraction of the bytes.
- The Core channel set is written into the header (a 16-byte mask for 128 channels), so the decoder never
  recomputes the float analysis: a different float rounding on another machine cannot change the grouping.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

import rcodec
from rcodec import Codec, EncodeResult, FormatError, HeaderParam, MediaError, Option, WeightsError, limits
from rcodec.media import Media
from rcodec.torch_runtime import codec_inference, side_thread
from rcodec.weights import check_file_weights

from . import conditional

BASE = "hyperprior"
WEIGHTS_DIR = Path(__file__).parent / "weights"
PREDICTORS = WEIGHTS_DIR / "predictors.pt"
MANIFEST = WEIGHTS_DIR / "WEIGHTS.json"
MULTIPLE = 64  # the hyperprior's total downsampling
MAX_PIXELS = limits.MAX_LEARNED_PIXELS


def base_codec():
    return rcodec.get_registry().codec(BASE)


@cache
def predictors_for(hyperprior_sha256: bytes) -> tuple[list, bytes] | None:
    """(predictors per quality, their 8-byte id) fitted for these hyperprior weights: the shipped file, or a
    retired one kept for files coded with earlier hyperprior weights; None if there are none."""
    import json

    from rcodec.weights import verify

    from .fitting import load

    try:
        manifest = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return None
    for name, entry in manifest.items():
        if entry.get("hyperprior_sha256") != hyperprior_sha256.hex():
            continue
        path = WEIGHTS_DIR / name
        verify(path, entry["sha256"])
        predictors, fitted_for = load(path)
        if fitted_for == hyperprior_sha256.hex():
            return predictors, bytes.fromhex(entry["sha256"])[:8]
    return None


def shipped_predictors(hyperprior_sha256: bytes) -> list | None:
    """The verified predictors per quality if any were fitted for these hyperprior weights, else None."""
    found = predictors_for(hyperprior_sha256)
    return None if found is None else found[0]


@cache
def predictors_id() -> bytes:
    """The first 8 bytes of the shipped predictors' sha256: written into conditional files, so that a file coded
    with other predictors is refused with a clear error instead of failing its checksum."""
    import json

    return bytes.fromhex(json.loads(MANIFEST.read_text())[PREDICTORS.name]["sha256"])[:8]


def core_mask(core: list[int], channels: int) -> bytes:
    mask = np.zeros(channels, dtype=bool)
    mask[core] = True
    return np.packbits(mask, bitorder="little").tobytes()


def mask_channels(mask: bytes, channels: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(mask, dtype=np.uint8), bitorder="little")
    if len(mask) != (channels + 7) // 8 or bits[channels:].any():
        raise FormatError("the Core channel mask in the header does not fit the model")
    return bits[:channels].astype(bool)


class HyperpriorIscsCodec(Codec):
    id = "hyperprior-iscs"
    version = 3
    media = ("image",)
    lossless = False
    header_params = {"quality": HeaderParam(int, 1, 64, required=True), "gray": HeaderParam(bool),
                     "core": HeaderParam(bytes, 1, 4096), "conditional": HeaderParam(bool),
                     "predictors": HeaderParam(bytes, 8, 8), "user_weights": HeaderParam(bool)}
    description = "hyperprior with ISCS channel groups: Core and Auxiliary slices, parallel and progressive decode"
    options = {
        "quality": Option(int, 4, "rate point, 1 (smallest) .. 8 (best)", tuple(range(1, 9))),
        "weights": Option(str, None, "hyperprior checkpoint to use instead of the shipped weights"),
        "core_share": Option(float, None, "share of the ISCS score energy in the Core group (default: the fitted "
                             "predictors' grouping; setting it codes without channel conditioning)"),
    }
    decode_options = {
        "weights": Option(str, None, "the checkpoint the file was compressed with"),
        "core_only": Option(bool, False, "decode the Core channel group only: a preview from fewer bytes",
                            flag="--core-only"),
    }

    def partial(self, options: dict[str, Any]) -> bool:
        return bool(options.get("core_only"))

    def _plan(self, model, q: int, core_share: float | None):
        """(Core mask, Auxiliary slices, predictor or None) for this model and rate point."""
        from .analysis import analyse
        from .conditional import aux_slices

        predictors = shipped_predictors(model.sha256)
        if predictors is not None and core_share is None:
            p = predictors[q]
            return p.core, aux_slices(p.core), p
        analysis = analyse(model, q, 0.5 if core_share is None else core_share, coding=True)
        core = np.zeros(len(analysis.order), dtype=bool)
        core[analysis.core] = True
        return core, aux_slices(core), None

    def encode(self, media: Media, params: dict[str, Any], sink) -> EncodeResult:
        import torch
        import torch.nn.functional as F

        image, gray = _rgb(media)
        model = base_codec().model(params.get("weights"))
        q = min(int(params.get("quality") or 4), model.qualities) - 1
        share = params.get("core_share")
        if share is not None and not 0.0 < share <= 1.0:
            raise MediaError("core_share must be in (0, 1]")
        core, slices, predictor = self._plan(model, q, share)
        height, width = image.shape[:2]
        x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float() / 255.0
        x = F.pad(x, (0, (-width) % MULTIPLE, 0, (-height) % MULTIPLE), mode="replicate")
        with codec_inference():
            y = model.gain(model.g_a(x), q)
            z = model.h_a(torch.abs(y) if model.h_a_abs else y)
            if model.z_gain is not None:
                z = z * model.z_gain[q].view(1, -1, 1, 1)
            z_hat = torch.round(z).clamp(-model.z_limit, model.z_limit)
            sink.write(z_hat.to(torch.int32).numpy().ravel(), model.z_tables, _channel_indexes(tuple(z.shape)))
            indexes, means = model.entropy_parameters(z_hat, q)
            indexes, means = indexes[0].numpy().astype(np.int64), means[0].double().numpy()
            y = y[0].double().numpy()
            def writer(channels: np.ndarray, stream: int):
                def write(pass_means: np.ndarray, pass_indexes: np.ndarray, positions: np.ndarray) -> np.ndarray:
                    symbols = np.round(y[channels].reshape(len(channels), -1)[:, positions] - pass_means)
                    sink.write(symbols.astype(np.int32).ravel(), model.y_tables, pass_indexes.ravel(), stream=stream)
                    return symbols
                return write

            core_channels = np.flatnonzero(core)
            spatial = predictor.spatial if predictor is not None else [None] * (1 + len(slices))
            core_symbols = code_slice(core_channels, means, indexes, spatial[0], model.y_tables.count,
                                      writer(core_channels, sink.add_stream()))
            means, indexes = _auxiliary_parameters(model, predictor, core, means, indexes, core_symbols)
            y_hat = means.copy()
            y_hat[core] += core_symbols
            for channels, slice_spatial in zip(slices, spatial[1:]):
                symbols = code_slice(channels, means, indexes, slice_spatial, model.y_tables.count,
                                     writer(channels, sink.add_stream()))
                y_hat[channels] = means[channels] + symbols
            reconstruction = _synthesise(model, y_hat, q, height, width, gray)
        record = {"quality": q + 1, "gray": gray, "core": core_mask(list(np.flatnonzero(core)), len(core)),
                  "conditional": predictor is not None}
        if predictor is not None:
            record["predictors"] = predictors_id()
        if params.get("weights"):
            record["user_weights"] = True
        return EncodeResult(record, model.sha256, reconstruction)

    def decode(self, source, header, options) -> Media:
        import torch

        model = base_codec().decode_model(options.get("weights"), header.weights_sha256)
        check_file_weights(header.params, header.weights_sha256, options, model.sha256)
        quality = header.params.get("quality")
        if not isinstance(quality, int) or not 1 <= quality <= model.qualities:
            raise MediaError(f"invalid quality {quality!r} in the header")
        from .conditional import aux_slices

        mask = header.params.get("core")
        if not isinstance(mask, bytes):
            raise FormatError("the header has no Core channel mask")
        core = mask_channels(mask, _latent_channels(model))
        slices = aux_slices(core)
        predictor = None
        if header.params.get("conditional"):
            fitted = predictors_for(model.sha256)
            if fitted is None:
                raise WeightsError("this file needs the ISCS predictors fitted for these hyperprior weights")
            predictors, installed_id = fitted
            written_with = header.params.get("predictors")
            if written_with != installed_id:
                found = written_with.hex() if isinstance(written_with, bytes) else "none"
                raise WeightsError(f"this file was coded with other ISCS predictors (id {found}) than the installed "
                                   f"ones ({installed_id.hex()}); decode it with the rcodec version that wrote it")
            predictor = predictors[quality - 1]
            if not np.array_equal(predictor.core, core):
                raise FormatError("the file's Core channels differ from the predictors' (other predictors?)")
        shape = header.shape
        if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] != 3) or 0 in shape \
                or shape[0] * shape[1] > MAX_PIXELS:
            raise MediaError(f"{self.id} cannot produce an image of shape {shape}")
        if source.stream_count != 2 + len(slices):
            raise FormatError(f"this {self.id} file should have {2 + len(slices)} streams, not {source.stream_count}")
        height, width = shape[:2]
        q = quality - 1
        z_shape = (1, model.z_tables.count, -(-height // MULTIPLE), -(-width // MULTIPLE))
        with codec_inference():
            z_hat = torch.from_numpy(source.read(model.z_tables, _channel_indexes(z_shape)).astype(np.float64))
            indexes, means = model.entropy_parameters(z_hat.view(z_shape), q)
            indexes, means = indexes[0].numpy().astype(np.int64), means[0].double().numpy()
            y_hat = _decode_latents(model, source, predictor, core, slices, indexes, means,
                                    bool(options.get("core_only")))
            return _synthesise(model, y_hat, q, height, width, len(shape) == 2)


def _decode_latents(model, source, predictor, core: np.ndarray, slices: list[np.ndarray], indexes: np.ndarray,
                    means: np.ndarray, core_only: bool) -> np.ndarray:
    """The decoded latents (M, h, w).

    The table indexes of every slice follow from the hyperprior's alone, so each slice is read in one call and the
    slices independently: the Core slice, with the Auxiliary means it predicts, on the side thread, the Auxiliary
    slices meanwhile on this one. The means are conditioned on what was decoded with the same exact integer sums
    the encoder applied pass by pass (`code_slice`)."""
    from .conditional import shifted_indexes, spatial_shift, stream_indexes, unpack_passes

    count = model.y_tables.count
    aux = ~core
    if predictor is not None:
        indexes = indexes.copy()
        indexes[aux] = shifted_indexes(indexes[aux], predictor.index_shift, count)
    groups = [np.flatnonzero(core)] + ([] if core_only else slices)
    spatial = predictor.spatial if predictor is not None else [None] * (1 + len(slices))

    def residuals(k: int) -> tuple[np.ndarray, np.ndarray]:
        """Slice k's symbols, and its latents less the hyperprior's (and Core-predicted) means."""
        channels = groups[k]
        values = source.read(model.y_tables, stream_indexes(indexes[channels], spatial[k], count), stream=1 + k)
        symbols = unpack_passes(values, len(channels), *indexes.shape[1:])
        return symbols, symbols if spatial[k] is None else symbols + spatial_shift(spatial[k], symbols)

    def core_work() -> tuple[np.ndarray, np.ndarray | None]:
        symbols, core_residuals = residuals(0)
        predicted = None if predictor is None else conditional.predicted_shift(predictor.weights, symbols)
        return core_residuals, predicted

    pending = side_thread().submit(core_work)
    try:
        aux_residuals = [residuals(k) for k in range(1, len(groups))]
    finally:
        core_residuals, predicted = pending.result()  # never leave the side thread reading after an error here
    y_hat = means.copy()  # a channel that is not decoded keeps its (predicted) mean
    if predicted is not None:
        y_hat[aux] += predicted
    y_hat[groups[0]] += core_residuals
    for channels, (_, slice_residuals) in zip(groups[1:], aux_residuals):
        y_hat[channels] += slice_residuals
    return y_hat


def code_slice(channels: np.ndarray, means: np.ndarray, indexes: np.ndarray, spatial, table_count: int,
               code) -> np.ndarray:
    """Encode one slice in its spatial passes. (The decoder, which needs no means to read symbols, reads a slice
    in one call and applies the same shifts afterwards: `_decode_latents`; a test holds the two to the same
    numbers.)

    `code(pass_means, pass_indexes, positions)` writes the symbols of one pass, (K, n) arrays over the flat grid
    indexes `positions` (row-major), and returns them. Before each later pass, the means and table indexes of its
    positions are updated in `means` / `indexes` from the symbols coded so far. Returns the slice's symbols
    (K, h, w), residuals from the final means."""
    k, (height, width) = len(channels), means.shape[1:]
    slice_means = means[channels].reshape(k, -1)
    slice_indexes = indexes[channels].reshape(k, -1)
    symbols = np.zeros((k, height * width))
    # The symbols clipped for prediction, with one zero column past the grid (the neighbour of positions at the
    # border); positions not decoded yet are zero and never read (PASS_NEIGHBOURS).
    context = np.zeros((k, height * width + 1))
    for p, layout in enumerate(conditional.pass_layouts(height, width)):
        positions = layout.positions
        if p and spatial is not None:
            slice_means[:, positions] += conditional.gathered_shift(spatial.weights[p - 1], context,
                                                                    layout.neighbours)
            shifted = slice_indexes[:, positions] + spatial.index_shift[p - 1][:, None]
            slice_indexes[:, positions] = np.clip(shifted, 0, table_count - 1)
        symbols[:, positions] = code(slice_means[:, positions], slice_indexes[:, positions], positions)
        if p + 1 < len(conditional.PASS_NEIGHBOURS):
            limit = conditional.RESIDUAL_LIMIT
            context[:, positions] = np.clip(symbols[:, positions], -limit, limit)
    means[channels] = slice_means.reshape(k, height, width)
    indexes[channels] = slice_indexes.reshape(k, height, width)
    return symbols.reshape(k, height, width)


def _auxiliary_parameters(model, predictor, core: np.ndarray, means: np.ndarray, indexes: np.ndarray,
                          core_symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means and table indexes with the Auxiliary channels conditioned on the decoded Core symbols."""
    if predictor is None:
        return means, indexes
    from .conditional import predicted_shift, shifted_indexes

    aux = ~core
    means, indexes = means.copy(), indexes.copy()
    means[aux] += predicted_shift(predictor.weights, core_symbols)
    indexes[aux] = shifted_indexes(indexes[aux], predictor.index_shift, model.y_tables.count)
    return means, indexes


def _latent_channels(model) -> int:
    return int(model.y_gain.shape[1]) if model.y_gain is not None else int(model.g_a[-1].out_channels)


def _channel_indexes(shape: tuple[int, ...]) -> np.ndarray:
    _, c, h, w = shape
    return np.repeat(np.arange(c, dtype=np.int32), h * w)


def _rgb(media: Media) -> tuple[np.ndarray, bool]:
    image = media.data
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2), True
    if image.shape[2] == 4:
        raise MediaError("lossy image codecs take RGB or grayscale; this image has an alpha channel "
                         "(use --codec lossless)")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise MediaError(f"images over {MAX_PIXELS} pixels are not supported by the learned codecs yet")
    return image, False


def _synthesise(model, y_hat: np.ndarray, q: int, height: int, width: int, gray: bool) -> Media:
    import torch

    y_hat = torch.from_numpy(y_hat.astype(np.float32))[None]
    x_hat = model.synthesis(y_hat, q)[0, :, :height, :width]
    pixels = torch.round(x_hat.clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).numpy()
    if gray:
        pixels = np.round(pixels.astype(np.float32).mean(axis=2)).astype(np.uint8)
    return Media("image", np.ascontiguousarray(pixels))
