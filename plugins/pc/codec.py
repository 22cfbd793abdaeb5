"""The `pc-mnist` codec: 28x28 8-bit grayscale digits, each pixel coded with its exact HCLT conditional."""

from __future__ import annotations

import numpy as np

from rcodec import Codec, EncodeResult, MediaError, WeightsError, learned
from rcodec.media import Media

from .mnist import SHAPE
from .weights import WEIGHTS_DIR, WEIGHTS_NAME

PRECISION = 16
WEIGHTS = learned.Weights(WEIGHTS_DIR, WEIGHTS_NAME, "train it with `rcodec train pc`")


def load_model():
    """The shipped (sha256-verified) HCLT as a `CodingModel`, and its sha256 (hex); built once per process.

    The file is hashed once per process (and again if it is replaced), not per image: hashing 30 MB would cost
    more than coding a digit."""
    weights = WEIGHTS.current()
    return learned.load_model(weights, _build), weights.sha256


def _build(weights: learned.WeightsFile):
    import torch

    from rcodec.entropy.pc.conditionals import CodingModel

    from .training import READABLE_FORMATS

    state = torch.load(weights.path, map_location="cpu", weights_only=True)
    if state.get("format") not in READABLE_FORMATS:
        raise WeightsError(f"{weights.path}: not a pc-mnist HCLT export (format {state.get('format')!r})")
    model = CodingModel.from_state(state)
    if model.size != SHAPE[0] * SHAPE[1] or model.categories != 256:
        raise WeightsError(f"{weights.path}: the circuit has {model.size} variables x {model.categories} values")
    return model


def tables_for(pmfs: np.ndarray):
    """Integer CDF tables, one per row of conditional pmfs (C values each)."""
    from rcodec.entropy import CdfTables, quantize_pmf

    return CdfTables.from_frequencies(quantize_pmf(pmfs, PRECISION))


MAX_DIGITS = 1 << 16  # per file; one file may hold a vertical strip of digits (28n x 28)
CHUNK = 256  # digits stepped through the circuit together (memory: CHUNK x 784 x k x 16 bytes)


def check_image(media: Media) -> np.ndarray:
    """The digits of a 28x28 image, or of a vertical strip of n digits (28n x 28), as uint8 (n, 784)."""
    data = media.data
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    rows, cols = SHAPE
    if (media.kind != "image" or not isinstance(data, np.ndarray) or data.ndim != 2 or data.dtype != np.uint8
            or data.shape[1] != cols or data.shape[0] % rows or not 0 < data.shape[0] // rows <= MAX_DIGITS):
        shape = getattr(media.data, "shape", None)
        raise MediaError(f"pc-mnist codes {rows}x{cols} grayscale 8-bit images (or a vertical strip of them, "
                         f"{rows}n x {cols}), got {media.kind} {shape}")
    return np.ascontiguousarray(data).reshape(-1, rows * cols)


def _chunks(count: int):
    for start in range(0, count, CHUNK):
        yield start, min(start + CHUNK, count)


class PcMnistCodec(Codec):
    id = "pc-mnist"
    version = 2
    media = ("image",)
    lossless = True
    stackable = True  # a block of digits is the vertical strip this codec already codes
    description = "MNIST 28x28 grayscale digits, hidden Chow-Liu tree probabilistic circuit (exact conditionals)"
    options = {}
    header_params: dict = {}

    def encode(self, media: Media, params, sink) -> EncodeResult:
        from rcodec.entropy.pc.conditionals import BatchConditionals

        digits = check_image(media)
        model, sha = load_model()
        # The digits of a chunk step through the circuit together; the stream holds, per pixel in coding order,
        # that pixel of every digit of the chunk.
        for start, end in _chunks(len(digits)):
            chunk = digits[start:end]
            steps = BatchConditionals(model, end - start)
            batch = np.arange(end - start)
            for _ in range(model.size):
                values = chunk[:, steps.variable]
                sink.write(values, steps.tables(PRECISION), batch)
                steps.observe(values)
        return EncodeResult(weights_sha256=bytes.fromhex(sha), reconstruction=media)

    def decode(self, source, header, options) -> Media:
        from rcodec.entropy.pc.conditionals import BatchConditionals

        shape = tuple(header.shape)
        rows, cols = SHAPE
        if len(shape) != 2 or shape[1] != cols or shape[0] % rows or not 0 < shape[0] // rows <= MAX_DIGITS:
            raise MediaError(f"pc-mnist decodes {rows}x{cols} images or strips of them, the header says {shape}")
        model, sha = load_model()
        if header.weights_sha256 is not None and header.weights_sha256 != bytes.fromhex(sha):
            raise WeightsError("the file was compressed with other pc-mnist weights than the shipped ones")
        digits = np.zeros((shape[0] // rows, model.size), dtype=np.uint8)
        for start, end in _chunks(len(digits)):
            steps = BatchConditionals(model, end - start)
            batch = np.arange(end - start)
            # Each pixel's conditional depends on the pixels before it: one read per pixel for the whole chunk.
            for _ in range(model.size):
                v = steps.variable
                values = source.read(steps.tables(PRECISION), batch)
                digits[start:end, v] = values
                steps.observe(values)
        return Media("image", digits.reshape(shape))
