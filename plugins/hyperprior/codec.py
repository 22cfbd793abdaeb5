"""The `factorized` and `hyperprior` codecs: learned transforms, integer-exact entropy parameters."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from rcodec import Codec, EncodeResult, HeaderParam, MediaError, Option, UnsupportedError, WeightsError, limits
from rcodec.media import Media
from rcodec.torch_runtime import codec_inference
from rcodec.weights import check_file_weights, retired_weights

WEIGHTS_DIR = Path(__file__).parent / "weights"
QUALITIES = 8
MAX_PIXELS = limits.MAX_LEARNED_PIXELS
DEFAULT_EFFORT = 3
# Refinement iterations per effort (`--effort`): none up to the default, then roughly doubling encode time.
EFFORT_REFINE = {1: 0, 2: 0, 3: 0, 4: 5, 5: 10, 6: 20, 7: 35, 8: 55, 9: 80}


@cache
def _manifest() -> dict:
    path = WEIGHTS_DIR / "WEIGHTS.json"
    return json.loads(path.read_text()) if path.exists() else {}


@cache
def _load_model(arch: str, weights: str | None):

    from .prepared import load_exported
    from .user_weights import load_user_checkpoint

    if weights is not None:
        return load_user_checkpoint(Path(weights), arch)
    entry = _manifest().get(f"{arch}.pt")
    if entry is None:
        raise WeightsError(f"no shipped weights for {arch!r}; train them with `rcodec train hyperprior` "
                           "or pass --weights PATH")
    return load_exported(WEIGHTS_DIR / f"{arch}.pt", entry["sha256"], arch)


@cache
def _load_retired(arch: str, sha256_hex: str):
    """Weights this package shipped before, kept so that files compressed with them still decode; or None."""
    from .prepared import load_exported

    path = retired_weights(WEIGHTS_DIR, f"{arch}.pt", sha256_hex)
    return None if path is None else load_exported(path, sha256_hex, arch)


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


def _channel_indexes(shape: tuple[int, ...]) -> np.ndarray:
    """Table index of each element of a (1, C, h, w) tensor in C order: its channel."""
    _, c, h, w = shape
    return np.repeat(np.arange(c, dtype=np.int32), h * w)


class _LearnedImageCodec(Codec):
    arch = ""
    media = ("image",)
    lossless = False
    options = {
        "quality": Option(int, 4, "rate point, 1 (smallest) .. 8 (best)", tuple(range(1, QUALITIES + 1))),
        "weights": Option(str, None, "checkpoint to use instead of the shipped weights"),
    }
    decode_options = {"weights": Option(str, None, "the checkpoint the file was compressed with")}
    header_params = {"quality": HeaderParam(int, 1, 64, required=True), "gray": HeaderParam(bool),
                     "user_weights": HeaderParam(bool)}
    multiple = 16  # the analysis transform downsamples by this much

    def model(self, weights: str | None):
        return _load_model(self.arch, weights)

    def decode_model(self, weights: str | None, file_sha256: bytes | None):
        """The model a file was compressed with: the user's checkpoint, the shipped weights or retired ones."""
        if weights is None and file_sha256 is not None:
            shipped = _manifest().get(f"{self.arch}.pt")
            if shipped is None or shipped["sha256"] != file_sha256.hex():
                retired = _load_retired(self.arch, file_sha256.hex())
                if retired is not None:
                    return retired
        return self.model(weights)

    def _quality(self, model, params: dict[str, Any]) -> int:
        quality = int(params.get("quality") or 1)
        return min(quality, model.qualities) - 1

    def encode(self, media: Media, params: dict[str, Any], sink) -> EncodeResult:
        import torch
        import torch.nn.functional as F

        image, gray = _rgb(media)
        model = self.model(params.get("weights"))
        q = self._quality(model, params)
        height, width = image.shape[:2]
        x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float() / 255.0
        pad_h, pad_w = (-height) % self.multiple, (-width) % self.multiple
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        with codec_inference():
            y, z = self._refine(model, x, model.gain(model.g_a(x), q), q, params)
            y_hat = self._code_latents(model, y, q, sink, z)
            reconstruction = self._synthesise(model, y_hat, q, height, width, gray)
        record = {"quality": q + 1, "gray": gray, **self._latent_params(model)}
        if params.get("weights"):
            record["user_weights"] = True
        return EncodeResult(record, model.sha256, reconstruction)

    def decode(self, source, header, options) -> Media:
        model = self.decode_model(options.get("weights"), header.weights_sha256)
        check_file_weights(header.params, header.weights_sha256, options, model.sha256)
        quality = header.params.get("quality")
        if not isinstance(quality, int) or not 1 <= quality <= model.qualities:
            raise MediaError(f"invalid quality {quality!r} in the header")
        shape = header.shape
        if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] != 3) or 0 in shape \
                or shape[0] * shape[1] > MAX_PIXELS:
            raise MediaError(f"{self.id} cannot produce an image of shape {shape}")
        height, width = shape[:2]
        padded = ((height + self.multiple - 1) // self.multiple, (width + self.multiple - 1) // self.multiple)
        with codec_inference():
            y_hat = self._decode_latents(model, source, quality - 1, padded, header.params)
            return self._synthesise(model, y_hat, quality - 1, height, width, len(shape) == 2)

    def _refine(self, model, x, y, q: int, params: dict[str, Any]):
        """(y, z) to code: codecs with encoder-side refinement optimise them for this image; z None: from y."""
        return y, None

    def _latent_params(self, model) -> dict[str, Any]:
        """Header parameters that say how the latents were coded."""
        return {}

    def _synthesise(self, model, y_hat, q: int, height: int, width: int, gray: bool) -> Media:
        import torch

        x_hat = model.synthesis(y_hat, q)[0, :, :height, :width]
        pixels = torch.round(x_hat.clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).numpy()
        if gray:
            pixels = np.round(pixels.astype(np.float32).mean(axis=2)).astype(np.uint8)
        return Media("image", np.ascontiguousarray(pixels))


class FactorizedCodec(_LearnedImageCodec):
    id = "factorized"
    version = 2
    arch = "factorized"
    description = "learned transform + factorized prior (Balle et al. 2018), variable rate"

    def _code_latents(self, model, y, q, sink, z=None):
        import torch

        symbols = torch.round(y)
        sink.write(symbols.to(torch.int32).numpy().ravel(), model.z_tables, _channel_indexes(tuple(y.shape)))
        return symbols

    def _decode_latents(self, model, source, q, padded, header_params=None):
        import torch

        shape = (1, model.z_tables.count, padded[0], padded[1])
        values = source.read(model.z_tables, _channel_indexes(shape))
        return torch.from_numpy(values.astype(np.float32)).view(shape)


class HyperpriorCodec(_LearnedImageCodec):
    """Version 3 codes y with the channel-and-spatial context model (`rcodec.entropy.latent`) when context weights
    were trained for the transforms in use (header parameter `context`: their sha256), else as version 2 did (means
    and scales from the hyperprior alone); version-2 files decode as before."""

    id = "hyperprior"
    version = 3
    arch = "hyperprior"
    multiple = 64
    description = ("learned transform + mean-scale hyperprior (Minnen et al. 2018) with a channel-and-spatial "
                   "context model (He et al. 2022), variable rate, integer entropy path")

    # version 3 records the sha256 of the context weights it was coded with
    header_params = {**_LearnedImageCodec.header_params, "context": HeaderParam(bytes, 32, 32)}

    def supports_version(self, version: int) -> bool:
        return version in (2, 3)

    def _latent_params(self, model) -> dict[str, Any]:
        from .context import shipped_context

        found = shipped_context(model)
        return {} if found is None else {"context": found[1]}
    options = {
        **_LearnedImageCodec.options,
        "refine": Option(int, 0, "encoder iterations optimising the latents for this image (0: the effort's; ~100 "
                                 "gives smaller files at the same quality, ~0.3 s per iteration for a 768x512 "
                                 "image); decoding is unchanged"),
        "effort": Option(int, DEFAULT_EFFORT, "encoder search, 1..9: 1-3 none (fast), 4-9 latent refinement of "
                                              "increasing length; the decoder and bitstream are the same",
                         tuple(range(1, 10)), flag="--effort"),
    }

    def _hyper_analysis(self, model, y, q):
        import torch

        z = model.h_a(torch.abs(y) if model.h_a_abs else y)
        return z * model.z_gain[q].view(1, -1, 1, 1) if model.z_gain is not None else z

    def _refine(self, model, x, y, q, params):
        iterations = int(params.get("refine") or 0) or EFFORT_REFINE[int(params.get("effort") or DEFAULT_EFFORT)]
        if iterations == 0:
            return y, None
        if not 0 < iterations <= 10_000:
            raise UnsupportedError(f"refine must be 0..10000 iterations, got {iterations}")
        if model.density_net is None:
            raise UnsupportedError("refine needs the shipped weights (a --weights checkpoint has no fixed-point "
                                   "hyper synthesis to optimise against)")
        from .context import shipped_context
        from .model import LAMBDAS
        from .refine import RefineSettings, refine_latents

        found = shipped_context(model)
        return refine_latents(model, model.density_net, x, y, self._hyper_analysis(model, y, q), q, LAMBDAS[q],
                              RefineSettings(iterations), context=None if found is None else found[0].float_model())

    def _code_latents(self, model, y, q, sink, z=None):
        import torch

        from .fixed_point import Z_LIMIT

        if z is None:
            z = self._hyper_analysis(model, y, q)
        z_hat = torch.round(z).clamp(-Z_LIMIT, Z_LIMIT)
        sink.write(z_hat.to(torch.int32).numpy().ravel(), model.z_tables, _channel_indexes(tuple(z.shape)))
        from .context import shipped_context

        found = shipped_context(model)
        if found is not None:
            return found[0].encode(y, model.hyper_synthesis(z_hat, q), sink)
        indexes, means = model.entropy_parameters(z_hat, q)
        centred = y - means if means is not None else y
        symbols = torch.round(centred)
        sink.write(symbols.to(torch.int32).numpy().ravel(), model.y_tables, indexes.numpy().ravel())
        return symbols + means if means is not None else symbols

    def _decode_latents(self, model, source, q, padded, header_params=None):
        import torch

        z_shape = (1, model.z_tables.count, padded[0], padded[1])  # z is at 1/64 of the padded size
        z_hat = torch.from_numpy(source.read(model.z_tables, _channel_indexes(z_shape)).astype(np.float64))
        if header_params and "context" in header_params:
            from .context import context_for_file

            return context_for_file(model, header_params["context"]).decode(
                model.hyper_synthesis(z_hat.view(z_shape), q), source)
        indexes, means = model.entropy_parameters(z_hat.view(z_shape), q)
        symbols = source.read(model.y_tables, indexes.numpy().ravel())
        y_hat = torch.from_numpy(symbols.astype(np.float32)).view(indexes.shape)
        return y_hat + means if means is not None else y_hat
