"""The `inr` codec: COIN-style implicit neural representations for images and audio.

The encoder fits a small SIREN to the signal (an image: (x, y) -> RGB; audio: one network per segment,
t -> samples), quantizes its parameters and entropy codes them. The decoder rebuilds the network and evaluates it
in float64 on one thread, so the output is the same whatever thread count the caller uses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rcodec import Codec, EncodeResult, HeaderParam, MediaError, Option, learned, limits
from rcodec.errors import FormatError
from rcodec.media import Audio, Media

from . import quant
from .siren import Architecture, forward, grid_coords, width_for_budget

IMAGE_BPP = (0.05, 0.08, 0.12, 0.16, 0.22, 0.3, 0.45, 0.7)  # quality 1..8 -> target bits per pixel
AUDIO_KBPS = (8, 16, 24, 32, 48, 64, 96, 128)  # quality 1..8 -> target kbit/s
MAX_FRAMES = limits.MAX_INR_FRAMES
MAX_PIXELS = limits.MAX_INR_PIXELS

MAX_WIDTH, MAX_DEPTH = 512, 16
# The rate options of both inr codecs: a point on the ladders above, or a target of their own.
RATE_OPTIONS = {
    "quality": Option(int, 5, "rate point 1..8 (image bpp / audio kbit/s ladder)", tuple(range(1, 9))),
    "bpp": Option(float, None, "image: target bits per pixel (overrides quality)"),
    "kbps": Option(float, None, "audio: target kbit/s (overrides quality)"),
}


def _architecture(kind: str, shape: tuple[int, ...], width: int, depth: int, segment: int, omega: int) -> Architecture:
    if kind == "image":
        channels = 1 if len(shape) == 2 else shape[2]
        return Architecture(1, 2, width, depth, channels, float(omega))
    frames, channels = shape
    return Architecture(-(-frames // segment), 1, width, depth, channels, float(omega))


def _param_shapes(arch: Architecture) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    for fan_in, fan_out in arch.layer_shapes():
        shapes += [(arch.networks, fan_in, fan_out), (arch.networks, 1, fan_out)]
    return shapes


def _coords(kind: str, shape: tuple[int, ...], arch: Architecture, segment: int) -> np.ndarray:
    if kind == "image":
        return grid_coords(shape[:2])[None]
    return np.broadcast_to(grid_coords((segment,))[None], (arch.networks, segment, 1))


def _synthesise(kind: str, shape: tuple[int, ...], arch: Architecture, params: list[np.ndarray], segment: int):
    """Evaluate the dequantized network: float64, one thread, fixed chunking -> identical output everywhere."""
    import torch

    coords = torch.from_numpy(np.ascontiguousarray(_coords(kind, shape, arch, segment)))
    weights = [torch.from_numpy(p) for p in params]
    with learned.inference():
        chunks = [forward(arch, weights, coords[:, i : i + 65536]) for i in range(0, coords.shape[1], 65536)]
        out = torch.cat(chunks, dim=1).numpy()
    if kind == "image":
        pixels = np.round(np.clip(out[0], 0.0, 1.0) * 255).astype(np.uint8)
        return Media("image", np.ascontiguousarray(pixels.reshape(shape)))
    frames, channels = shape
    samples = np.clip(out.reshape(-1, channels)[:frames], -1.0, 1.0).astype(np.float32)
    return samples


class InrCodec(Codec):
    id = "inr"
    version = 1
    media = ("image", "audio")
    lossless = False
    header_params = {name: HeaderParam(int, 1, high, required=True) for name, high in
                     (("width", 512), ("depth", 16), ("bits", 16), ("segment", 1 << 24), ("omega", 1 << 20))}
    description = "implicit neural representation (COIN-style SIREN fit, quantized + entropy-coded weights)"
    options = {
        **RATE_OPTIONS,
        "steps": Option(int, 2000, "fitting steps"),
        "time_budget": Option(float, 60.0, "stop fitting after this many seconds"),
        "depth": Option(int, None, "hidden layers (default: 5 for images, 3 for audio)"),
        "bits": Option(int, 8, "weight quantization bits", tuple(range(4, 13))),
        "segment": Option(int, 2048, "audio: frames per network"),
        "batch": Option(int, 16384, "points per fitting step"),
        "lr": Option(float, 1e-3, "Adam learning rate"),
        "seed": Option(int, 0, "random seed of initialisation and sampling"),
    }

    def encode(self, media: Media, params: dict[str, Any], sink) -> EncodeResult:
        kind, shape = media.kind, media.shape
        target, points, peak = self._target(media)
        bits, segment = params["bits"], params["segment"]
        depth = params["depth"] if params["depth"] is not None else (5 if kind == "image" else 3)
        if not 1 <= depth <= MAX_DEPTH or segment < 16 or params["steps"] < 0:
            raise MediaError("inr: depth must be 1..16, segment >= 16, steps >= 0")
        if kind == "image":
            budget = (params["bpp"] or IMAGE_BPP[params["quality"] - 1]) * points
            omega = 30
            networks, in_dim, out_dim = 1, 2, target.shape[-1]
        else:
            seconds = shape[0] / media.sample_rate
            budget = (params["kbps"] or AUDIO_KBPS[params["quality"] - 1]) * 1000 * seconds
            networks, in_dim, out_dim = -(-shape[0] // segment), 1, shape[1]
            omega = max(30, int(round(0.15 * segment)))  # measured best on speech: 300 for 2048-frame segments
        # Entropy coding saves about one bit per quantized weight below the nominal width.
        width = min(MAX_WIDTH, width_for_budget(budget / max(bits - 1, 1) / networks, in_dim, depth, out_dim))
        arch = _architecture(kind, shape, width, depth, segment, omega)
        if kind == "audio":
            padded = np.zeros((arch.networks * segment, shape[1]), np.float32)
            padded[: shape[0]] = target
            target = padded.reshape(arch.networks, segment, shape[1])
        else:
            target = target.reshape(1, -1, out_dim)
        from .fit import fit

        with learned.torch_threads(1):  # the fit is small; a second thread mostly contends with other work
            fitted = fit(arch, np.asarray(_coords(kind, shape, arch, segment)), target, params["steps"],
                         params["time_budget"], params["batch"], params["lr"], params["seed"], peak, f"inr {kind}")
        ks, ints = quant.quantize(fitted, bits)
        quant.write(sink, ks, ints, bits)
        recon = _synthesise(kind, shape, arch, quant.dequantize(ks, ints), segment)
        if kind == "audio":
            recon = Media("audio", Audio(recon, media.sample_rate))
        record = {"width": width, "depth": depth, "bits": bits, "segment": segment, "omega": omega}
        return EncodeResult(record, None, recon)

    def decode(self, source, header, options) -> Media:
        p = header.params
        try:
            width, depth, bits, segment, omega = (int(p[k]) for k in ("width", "depth", "bits", "segment", "omega"))
        except (KeyError, TypeError, ValueError):
            raise FormatError("inr: the header lacks the network description") from None
        kind, shape = header.media, tuple(header.shape)
        if not (1 <= width <= MAX_WIDTH and 1 <= depth <= MAX_DEPTH and 4 <= bits <= 12 and segment >= 16
                and 1 <= omega <= 1 << 20):
            raise FormatError("inr: invalid network description in the header")
        self._check_shape(kind, shape)
        arch = _architecture(kind, shape, width, depth, segment, omega)
        if arch.parameter_count() > 1 << 26:
            raise FormatError("inr: the header describes an implausibly large network")
        ks, ints = quant.read(source, _param_shapes(arch), bits)
        out = _synthesise(kind, shape, arch, quant.dequantize(ks, ints), segment)
        return out if kind == "image" else Media("audio", Audio(out, header.sample_rate))

    @staticmethod
    def _check_shape(kind: str, shape: tuple[int, ...]) -> None:
        if kind == "image":
            learned.check_image_shape(shape, "inr", MAX_PIXELS, channels=(1, 3))
        elif kind != "audio" or not (len(shape) == 2 and 0 < shape[0] <= MAX_FRAMES and 1 <= shape[1] <= 8):
            raise MediaError(f"inr cannot handle {kind} of shape {shape}")

    def _target(self, media: Media) -> tuple[np.ndarray, int, float]:
        """The signal as float32 (points, channels), the number of points, and the peak for PSNR."""
        self._check_shape(media.kind, media.shape)
        if media.kind == "image":
            image = media.data
            image = image[:, :, None] if image.ndim == 2 else image
            return image.reshape(-1, image.shape[2]).astype(np.float32) / 255.0, image.shape[0] * image.shape[1], 1.0
        return media.data.samples.astype(np.float32), media.data.frames, 2.0
