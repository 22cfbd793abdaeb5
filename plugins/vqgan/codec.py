"""The `vqgan` codec: an image becomes a grid of codebook indices (f16), entropy coded with a learned prior (the
masked context model of `context.py`, or a categorical one); the codebook size (the rate) comes from a K-means
ladder; lost indices can be simulated and are restored by the context model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rcodec import Codec, EncodeResult, HeaderParam, MediaError, Option, learned
from rcodec.media import Media
from rcodec.weights import check_file_weights

from .export import LADDER, TILE, WEIGHTS_DIR, WEIGHTS_NAME

SCALES = (0.25, 4.0)  # allowed range of the `scale` option
PRIORS = ("context", "categorical", "uniform")


@dataclass
class Prepared:
    model: Any
    books: dict[int, Any]  # K -> (K, D) float32 codebook
    freqs: dict[int, np.ndarray]  # K -> int64 frequencies summing to 2**16
    sha256: bytes
    context: dict[int, Any] = field(default_factory=dict)  # K -> IntegerContext (shipped weights only)
    # K -> the codewords the decoder is given for each index, tuned for the decoded pixels (`decoder_tuning.py`);
    # the indices are still chosen with `books`. Absent: the decoder gets `books` itself.
    decode_books: dict[int, Any] = field(default_factory=dict)
    tile: int = TILE  # grid positions per tile side (see model.encode_tiled)

    def decode_book(self, k: int):
        return self.decode_books.get(k, self.books[k])


WEIGHTS = learned.Weights(WEIGHTS_DIR, WEIGHTS_NAME, "train them with `rcodec train vqgan` or pass --weights PATH")


def _load(weights: str | None = None) -> Prepared:
    """The model of a user's checkpoint, or of the shipped weights (built once per sha256)."""
    return learned.load_model(WEIGHTS.for_encoding(weights), _build)


def _build(weights: learned.WeightsFile) -> Prepared:
    """Model, ladder, priors and context models of a weights file: an export, or a user's taming checkpoint."""
    import torch

    if weights.user:
        from .taming import load_taming_checkpoint

        prep = load_taming_checkpoint(weights.path)
    else:
        prep = load_prepared(weights.path, weights.sha256)
    # channels-last convolutions are about a quarter faster on a CPU; encoder and decoder both use them, so the
    # output hash the encoder records is what decoders compute
    prep.model.to(memory_format=torch.channels_last)
    return prep


def load_prepared(path: Path, sha256_hex: str) -> Prepared:
    """Model, ladder, priors and context models of an exported weights file (already verified)."""
    import torch

    from .context import IntegerContext
    from .model import VqganConfig, load_state

    payload = torch.load(path, map_location="cpu", weights_only=True)
    cfg = VqganConfig.from_dict(payload["config"])
    model = load_state({k: v.float() for k, v in payload["state_dict"].items()}, cfg)
    books = {int(k): v.float() for k, v in payload["codebooks"].items()}
    freqs = {int(k): v.numpy().astype(np.int64) for k, v in payload["freqs"].items()}
    context = {int(k): IntegerContext.from_state(v) for k, v in payload.get("context", {}).items()}
    decode_books = {int(k): v.float() for k, v in payload.get("decode_books", {}).items()}
    return Prepared(model, books, freqs, bytes.fromhex(sha256_hex), context, decode_books)


def _tables(prep: Prepared, k: int, prior: str):
    """The one table of the uniform or categorical prior (the context prior uses the categorical one first)."""
    from rcodec.entropy import CdfTables

    if prior == "uniform":
        return CdfTables.uniform(k)
    return CdfTables.from_frequencies(prep.freqs[k][None, :])


def lost_mask(shape: tuple[int, int], fraction: float, seed: int) -> np.ndarray:
    """Which grid positions are lost (True), exactly round(fraction * count) of them, chosen by the seed."""
    count = shape[0] * shape[1]
    n = int(round(fraction * count))
    mask = np.zeros(count, bool)
    mask[np.random.default_rng(seed).permutation(count)[:n]] = True
    return mask.reshape(shape)


def restore(zq, mask: np.ndarray, iters: int = 64):
    """Fill lost positions of the quantized latent (1, D, h, w) from their known neighbours, outwards: each pass
    gives every still-unknown position the mean of its known 4-neighbours. The fallback for weights without a
    context model (a user checkpoint)."""
    import torch
    import torch.nn.functional as F

    known = torch.from_numpy(~mask).float()[None, None]
    z = zq * known
    kernel = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=z.dtype)[None, None]
    for _ in range(iters):
        if bool(known.min() > 0):
            break
        count = F.conv2d(known, kernel, padding=1)
        total = F.conv2d(z.reshape(-1, 1, *z.shape[2:]), kernel, padding=1).reshape(z.shape)
        fill = (count > 0) & (known == 0)
        z = torch.where(fill, total / count.clamp(min=1), z)
        known = torch.where(fill, torch.ones_like(known), known)
    return z


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """The size an image is tokenized at: `scale` times its own, at least one pixel."""
    return max(1, round(height * scale)), max(1, round(width * scale))


def resample(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 RGB (H, W, 3) resized to `size` (height, width) with Lanczos; Pillow resamples 8-bit images in integer
    arithmetic, so the result is the same on every machine."""
    from PIL import Image

    if pixels.shape[:2] == size:
        return pixels
    return np.asarray(Image.fromarray(pixels).resize((size[1], size[0]), Image.LANCZOS))


def _scale(value: Any) -> float:
    try:
        scale = float(1.0 if value is None else value)
    except (TypeError, ValueError):
        raise MediaError(f"scale must be a number, not {value!r}") from None
    if not SCALES[0] <= scale <= SCALES[1]:
        raise MediaError(f"scale must be between {SCALES[0]} and {SCALES[1]}, not {scale}")
    return scale


def _grid(height: int, width: int, factor: int) -> tuple[int, int]:
    """Index grid of an image: ceil(size / factor), at least 2 (group norm needs more than one value per group)."""
    rows, cols = learned.grid(height, width, factor)
    return max(2, rows), max(2, cols)


class VqganCodec(Codec):
    id = "vqgan"
    version = 2  # 2: the context prior
    media = ("image",)
    lossless = False
    header_params = {"codebook": HeaderParam(int, 2, 1 << 20, required=True), "prior": HeaderParam(str, choices=PRIORS),
                     "gray": HeaderParam(bool), "scale": HeaderParam(float, *SCALES),
                     "user_weights": HeaderParam(bool)}
    description = ("VQGAN tokenizer (f16), K-means codebook ladder, masked context prior over the indices; extreme "
                   "rates (<= 0.05 bpp)")
    options = {
        "quality": Option(int, len(LADDER), f"codebook rung 1..{len(LADDER)} (K = {', '.join(map(str, LADDER))})",
                          tuple(range(1, len(LADDER) + 1))),
        "codebook": Option(int, None, "codebook size K (overrides quality)"),
        "prior": Option(str, "context", "index prior: context (masked context model, falls back to categorical "
                                           "where the weights have none), categorical or uniform", PRIORS),
        "weights": Option(str, None, "a taming-transformers VQGAN .ckpt to use instead of the shipped weights"),
        "scale": Option(float, 1.0, "tokenize the image resized by this factor (0.25-4) and resize back after "
                                    "decoding: the grid gets scale**2 times the indices, a second rate knob "
                                    "besides the codebook size (1.5 with K=64 beats K=1024 at a similar rate)"),
    }
    decode_options = {
        "weights": Option(str, None, "the checkpoint the file was compressed with"),
        "lost_fraction": Option(float, 0.0, "simulate losing this fraction of the indices (restored by the context "
                                            "model)"),
        "lost_seed": Option(int, 0, "seed choosing which indices are lost"),
        "restorer": Option(str, "context", "how lost indices are filled: context (the context model's expected "
                                           "codeword) or neighbours (mean of the known neighbours' codewords)",
                           ("context", "neighbours")),
    }

    def partial(self, options: dict[str, Any]) -> bool:
        return bool(options.get("lost_fraction"))

    def encode(self, media: Media, params: dict[str, Any], sink) -> EncodeResult:
        import torch
        import torch.nn.functional as F

        image, gray = learned.rgb_image(media, self.id)
        scale = _scale(params.get("scale"))
        original = image.shape[:2]
        height, width = scaled_size(*original, scale)
        if height * width > learned.MAX_PIXELS:
            raise MediaError(f"images over {learned.MAX_PIXELS} pixels (after scaling) are not supported")
        prep = _load(params.get("weights"))
        k = self._rung(prep, params)
        f = prep.model.cfg.factor
        image = resample(np.ascontiguousarray(image), (height, width))
        x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float() / 255.0
        grid = _grid(height, width, f)
        # pad to the grid (replicating the edge), crop back after synthesis
        x = F.pad(x, (0, grid[1] * f - width, 0, grid[0] * f - height), mode="replicate")
        with learned.inference():
            from .model import encode_tiled

            z = encode_tiled(prep.model, x.contiguous(memory_format=torch.channels_last), prep.tile)
            idx = prep.model.quantize.indices(z, prep.books[k])[0]
            prior = params["prior"]
            if prior == "context" and k not in prep.context:
                prior = "categorical"
            if prior == "context":
                from .context import write_grid

                write_grid(sink, prep.context[k], idx.numpy(), _tables(prep, k, "categorical"))
            else:
                sink.write(idx.numpy().astype(np.int32).ravel(), _tables(prep, k, prior))
            recon = self._synthesise(prep, idx, k, (height, width), original, gray, None)
        record = {"codebook": k, "prior": prior, "gray": gray}
        if scale != 1.0:  # absent from files at the default, which older decoders read the same way
            record["scale"] = scale
        if params.get("weights"):
            record["user_weights"] = True
        return EncodeResult(record, prep.sha256, recon)

    def _rung(self, prep: Prepared, params: dict[str, Any]) -> int:
        k = params.get("codebook")
        if k is None:  # quality picks a rung of this model's ladder (a user checkpoint has one rung)
            rungs = sorted(prep.books)
            k = rungs[min(int(params.get("quality") or len(LADDER)), len(rungs)) - 1]
            if len(rungs) < len(LADDER):
                k = rungs[-1]
        if k not in prep.books:
            raise MediaError(f"codebook size {k} is not on the ladder {sorted(prep.books)}")
        return k

    def decode(self, source, header, options) -> Media:
        import torch

        prep = learned.load_model(WEIGHTS.for_decoding(options.get("weights"), header.weights_sha256), _build)
        check_file_weights(header.params, header.weights_sha256, options, prep.sha256)
        k, prior = header.params.get("codebook"), header.params.get("prior")
        if k not in prep.books or prior not in PRIORS or (prior == "context" and k not in prep.context):
            raise MediaError(f"invalid codebook {k!r} or prior {prior!r} in the header")
        shape = header.shape
        learned.check_image_shape(shape, self.id)
        original = tuple(shape[:2])
        height, width = scaled_size(*original, _scale(header.params.get("scale")))
        if height * width > learned.MAX_PIXELS:
            raise MediaError(f"vqgan cannot produce an image of shape {shape} at scale {header.params['scale']}")
        fraction = float(options.get("lost_fraction") or 0.0)
        if not 0.0 <= fraction <= 1.0:
            raise MediaError("lost_fraction must be between 0 and 1")
        f = prep.model.cfg.factor
        grid = _grid(height, width, f)
        if prior == "context":
            from .context import read_grid

            try:
                values = read_grid(source, prep.context[k], grid, _tables(prep, k, "categorical"))
            except ValueError as exc:
                raise MediaError(str(exc)) from None
        else:
            values = source.read(_tables(prep, k, prior), count=grid[0] * grid[1])
            if values.min() < 0 or values.max() >= k:
                raise MediaError("decoded index out of range")
        idx = torch.from_numpy(values.astype(np.int64)).view(grid)
        mask = lost_mask(grid, fraction, int(options.get("lost_seed") or 0)) if fraction > 0 else None
        with learned.inference():
            return self._synthesise(prep, idx, k, (height, width), original, len(shape) == 2, mask,
                                    options.get("restorer") == "neighbours")

    def _synthesise(self, prep: Prepared, idx, k: int, size: tuple[int, int], original: tuple[int, int], gray: bool,
                    mask: np.ndarray | None, neighbours: bool = False) -> Media:
        """Pixels of an index grid: decoded at the tokenized `size`, cropped from the padded grid, resized back to
        the `original` size."""
        import torch

        if mask is not None and k in prep.context and not neighbours:
            from .context import restore_lost

            zq = restore_lost(prep.context[k], idx.numpy(), mask, prep.decode_book(k))
        else:
            zq = prep.model.quantize.lookup(idx[None], prep.decode_book(k))
            if mask is not None:
                zq = restore(zq, mask)
        zq = zq.contiguous(memory_format=torch.channels_last)
        from .model import decode_tiled

        x_hat = decode_tiled(prep.model, zq, prep.tile)[0, :, :size[0], :size[1]]
        pixels = torch.round(x_hat.clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).numpy()
        pixels = resample(np.ascontiguousarray(pixels), original)
        return Media("image", np.ascontiguousarray(learned.to_gray(pixels) if gray else pixels))
