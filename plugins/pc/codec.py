"""The `pc-mnist` codec: 28x28 8-bit grayscale digits, each pixel coded with its exact HCLT conditional."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rcodec import Codec, EncodeResult, MediaError, WeightsError
from rcodec.media import Media

from .mnist import SHAPE
from .weights import verified_path

PRECISION = 16
_MODELS: dict[Path, tuple] = {}


def load_model(path: Path | None = None):
    """The shipped (sha256-verified) HCLT as a `CodingModel`, and the sha256; cached per process."""
    path, sha = verified_path(path)
    cached = _MODELS.get(path)
    if cached is None or cached[1] != sha:
        import torch

        from rcodec.entropy.pc.conditionals import CodingModel

        from .training import EXPORT_FORMAT

        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("format") != EXPORT_FORMAT:
            raise WeightsError(f"{path}: not a pc-mnist HCLT export (format {state.get('format')!r})")
        model = CodingModel.from_state(state)
        if model.size != SHAPE[0] * SHAPE[1] or model.categories != 256:
            raise WeightsError(f"{path}: the circuit has {model.size} variables x {model.categories} values")
        cached = _MODELS[path] = (model, sha)
    return cached


class _SingleThread:
    """torch and the conditionals run single threaded while coding (fixed summation order); restored after."""

    def __enter__(self) -> None:
        import torch

        self._threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc) -> None:
        import torch

        torch.set_num_threads(self._threads)


def tables_for(pmfs: np.ndarray):
    """Integer CDF tables, one per row of conditional pmfs (C values each)."""
    from rcodec.entropy import CdfTables, quantize_pmf

    return CdfTables.from_frequencies(quantize_pmf(pmfs, PRECISION))


def check_image(media: Media) -> np.ndarray:
    data = media.data
    if media.kind != "image" or not isinstance(data, np.ndarray) or data.shape != SHAPE or data.dtype != np.uint8:
        shape = getattr(data, "shape", None)
        raise MediaError(f"pc-mnist codes {SHAPE[0]}x{SHAPE[1]} grayscale 8-bit images, got {media.kind} {shape}")
    return data


class PcMnistCodec(Codec):
    id = "pc-mnist"
    version = 1
    media = ("image",)
    lossless = True
    description = "MNIST 28x28 grayscale digits, hidden Chow-Liu tree probabilistic circuit (exact conditionals)"
    options = {}

    def encode(self, media: Media, params, sink) -> EncodeResult:
        from rcodec.entropy.pc.conditionals import conditionals

        pixels = check_image(media).ravel()
        model, sha = load_model()
        with _SingleThread():
            pmfs = conditionals(model, pixels)
        # All conditionals are known up front when encoding: one call with one table per pixel.
        sink.write(pixels[model.order], tables_for(pmfs), np.arange(model.size))
        return EncodeResult(weights_sha256=bytes.fromhex(sha), reconstruction=media)

    def decode(self, source, header, options) -> Media:
        from rcodec.entropy.pc.conditionals import Conditionals

        if tuple(header.shape) != SHAPE:
            raise MediaError(f"pc-mnist decodes {SHAPE[0]}x{SHAPE[1]} images, the header says {header.shape}")
        model, sha = load_model()
        if header.weights_sha256 is not None and header.weights_sha256 != bytes.fromhex(sha):
            raise WeightsError("the file was compressed with other pc-mnist weights than the shipped ones")
        pixels = np.zeros(model.size, dtype=np.int64)
        steps = Conditionals(model)
        with _SingleThread():
            # Each pixel's conditional depends on the pixels before it: one table and one read per pixel.
            for _ in range(model.size):
                v = steps.variable
                value = int(source.read(tables_for(steps.pmf()[None, :]), count=1)[0])
                pixels[v] = value
                steps.observe(value)
        return Media("image", pixels.astype(np.uint8).reshape(SHAPE))
