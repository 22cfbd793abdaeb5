"""The `inr-vc` codec: a shared, meta-learned SIREN modulated per 32x32 patch by a latent (COIN++ / VC-INR style).

Encoding fits each patch's latent with the shipped weights frozen (the meta-learned inner steps, then Adam steps
within a time budget), quantizes all latents with one uniform step from a ladder (the finest whose estimated size
fits the rate target) and codes them with the shipped per-dimension prior tables. The decoder reads the integers,
multiplies by the step and evaluates the base network in float64 on one thread, in fixed chunks, so its output does
not depend on the caller's thread count.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from rcodec import Codec, EncodeResult, MediaError, Option, UnsupportedError, WeightsError
from rcodec.errors import FormatError
from rcodec.media import Media
from rcodec.torch_runtime import codec_inference, side_thread
from rcodec.weights import check_file_weights, shipped_weights

from . import vc_prior
from .codec import IMAGE_BPP
from .vc_export import WEIGHTS_DIR, WEIGHTS_NAME
from .vc_model import VcConfig, forward, from_patches, patch_coords, to_patches

MAX_PIXELS = 1 << 24
CHUNK = 32  # patches per synthesis pass: fixed, so every decoder sums in the same order


@dataclass
class Prepared:
    cfg: VcConfig
    half: dict  # the shipped fp16 tensors: the single source of every float the codecs use
    log_lr: Any
    inner_steps: int
    refine_lr: float
    grid: np.ndarray  # (GRID,) float64 quantization steps
    tables: Any  # CdfTables, index step_index * latent + dim
    sha256: bytes


@cache
def _load(weights: str | None) -> Prepared:
    import torch

    from rcodec.weights import sha256_file

    if weights is not None:
        path, sha = Path(weights), sha256_file(weights)
    else:
        path, sha = shipped_weights(WEIGHTS_DIR, WEIGHTS_NAME, "train them with `rcodec train inr --export`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        cfg = VcConfig.from_dict(payload["config"])
        grid = payload["grid"].numpy().astype(np.float64)
        freqs = payload["freqs"].numpy()
        if grid.shape != (vc_prior.GRID,) or freqs.shape != (vc_prior.GRID, cfg.latent, vc_prior.SYMBOLS):
            raise ValueError("prior tables of the wrong shape")
        prep = Prepared(cfg, dict(payload["params"]), payload["log_lr"], int(payload["inner_steps"]),
                        float(payload["refine_lr"]), grid, vc_prior.tables(freqs), bytes.fromhex(sha))
    except (KeyError, RuntimeError, TypeError, ValueError, OSError, EOFError, AttributeError,
            pickle.UnpicklingError) as exc:
        raise WeightsError(f"{path}: not an inr-vc weights file ({str(exc).splitlines()[0][:200]})") from None
    return prep


def _check_shape(shape: tuple[int, ...]) -> None:
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (1, 3)) or 0 in shape \
            or shape[0] * shape[1] > MAX_PIXELS:
        raise MediaError(f"inr-vc takes RGB or grayscale images of 1 to {MAX_PIXELS} pixels, not shape {shape}")


def _rgb(media: Media) -> np.ndarray:
    if media.kind != "image":
        raise MediaError(f"inr-vc takes images, not {media.kind}")
    _check_shape(tuple(media.shape))
    image = media.data
    return image if image.ndim == 3 and image.shape[2] == 3 else \
        np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)


def synthesise(prep: Prepared, q: np.ndarray, step_index: int, shape: tuple[int, ...]) -> np.ndarray:
    """Integers (N, latent) -> uint8 image of `shape`: float64 in fixed chunks of patches.

    Every chunk is computed on one thread by the same kernels whatever the machine's thread count; the second
    half of the chunks runs on `side_thread()` while this thread computes the first. Chunks are independent, so
    the pixels do not depend on which thread computed them."""
    import torch

    cfg = prep.cfg
    z = torch.from_numpy(q.astype(np.float64) * prep.grid[step_index])
    params = {k: v.double() for k, v in prep.half.items()}
    coords = torch.from_numpy(patch_coords(cfg.patch))

    def run(starts: list[int]) -> list:
        with torch.no_grad():  # grad mode is per thread
            return [forward(cfg, params, z[i:i + CHUNK], coords) for i in starts]

    starts = list(range(0, z.shape[0], CHUNK))
    half = len(starts) // 2
    with codec_inference():
        later = side_thread().submit(run, starts[half:]) if half else None
        first = run(starts[:half] if later else starts)
        out = torch.cat(first + (later.result() if later else []))
    height, width = shape[:2]
    grid = (-(-height // cfg.patch), -(-width // cfg.patch))
    pixels = from_patches(out.numpy(), grid, height, width, cfg.patch)
    if len(shape) == 2 or shape[2] == 1:  # grey input was fitted as three equal channels
        pixels = np.round(pixels.astype(np.float32).mean(axis=2)).astype(np.uint8).reshape(shape)
    return pixels


class InrVcCodec(Codec):
    id = "inr-vc"
    version = 1
    media = ("image",)
    lossless = False
    description = "shared meta-learned SIREN, per-patch latent modulations, quantized + learned factorized prior"
    options = {
        "quality": Option(int, 5, "rate point 1..8 (target bpp ladder of `inr`)", tuple(range(1, 9))),
        "bpp": Option(float, None, "target bits per pixel (overrides quality)"),
        "step": Option(int, None, f"quantization step index 0..{vc_prior.GRID - 1} (overrides the rate target)"),
        "steps": Option(int, None, "Adam refinement steps after the inner loop (default: the shipped value)"),
        "time_budget": Option(float, 30.0, "stop refining after this many seconds"),
        "weights": Option(str, None, "a weights file from `rcodec train inr --export` instead of the shipped one"),
    }
    decode_options = {"weights": Option(str, None, "the weights file the file was compressed with")}

    def encode(self, media: Media, params: dict[str, Any], sink) -> EncodeResult:
        import torch

        from .vc_fit import fit_latents

        image = _rgb(media)
        prep = _load(params.get("weights"))
        cfg = prep.cfg
        step_index, refine = params.get("step"), params.get("steps")
        if step_index is not None and not 0 <= step_index < vc_prior.GRID:
            raise UnsupportedError(f"step must be 0..{vc_prior.GRID - 1}, got {step_index}")
        if (refine is not None and refine < 0) or (params.get("bpp") is not None and params["bpp"] <= 0):
            raise UnsupportedError("steps must be >= 0 and bpp > 0")
        height, width = image.shape[:2]
        patches, _ = to_patches(image, cfg.patch)
        fp32 = {k: v.float() for k, v in prep.half.items()}
        before = torch.get_num_threads()
        torch.set_num_threads(1)  # the fit is small; a second thread mostly contends with other work
        try:
            z = fit_latents(cfg, fp32, torch.from_numpy(patch_coords(cfg.patch).astype(np.float32)),
                            torch.from_numpy(patches), prep.log_lr.float().exp(), prep.inner_steps,
                            refine if refine is not None else 10_000, params["time_budget"],
                            lr=prep.refine_lr).numpy()
        finally:
            torch.set_num_threads(before)
        if step_index is None:
            budget = (params.get("bpp") or IMAGE_BPP[params["quality"] - 1]) * height * width
            step_index = self._finest_within(prep, z, budget)
        q = vc_prior.quantize(z, float(prep.grid[step_index]))
        sink.write(q.ravel(), prep.tables, vc_prior.table_indexes(step_index, q.shape[0], cfg.latent))
        pixels = synthesise(prep, q, step_index, tuple(media.shape))
        record: dict[str, Any] = {"step": step_index, "patch": cfg.patch, "latent": cfg.latent}
        if params.get("weights"):
            record["user_weights"] = True
        return EncodeResult(record, prep.sha256, Media("image", pixels))

    @staticmethod
    def _finest_within(prep: Prepared, z: np.ndarray, budget_bits: float) -> int:
        """The finest ladder step whose estimated code length fits the budget (the coarsest if none does)."""
        choice = 0
        for j in range(vc_prior.GRID):
            q = vc_prior.quantize(z, float(prep.grid[j]))
            bits = prep.tables.information_bits(q.ravel(), vc_prior.table_indexes(j, q.shape[0], z.shape[1]))
            bits += 24 * int(np.sum(np.abs(q) > vc_prior.LEVELS))  # escapes cost extra beyond their symbol
            if bits > budget_bits:
                break
            choice = j
        return choice

    def decode(self, source, header, options) -> Media:
        prep = _load(options.get("weights"))
        check_file_weights(header.params, header.weights_sha256, options, prep.sha256)
        p, shape = header.params, tuple(header.shape)
        try:
            step_index, patch, latent = int(p["step"]), int(p["patch"]), int(p["latent"])
        except (KeyError, TypeError, ValueError):
            raise FormatError("inr-vc: the header lacks the step, patch or latent size") from None
        if not 0 <= step_index < vc_prior.GRID or patch != prep.cfg.patch or latent != prep.cfg.latent:
            raise FormatError("inr-vc: the header does not match the weights (step, patch or latent size)")
        if header.media != "image":
            raise FormatError(f"inr-vc files hold images, not {header.media}")
        _check_shape(shape)
        height, width = shape[:2]
        n = -(-height // patch) * -(-width // patch)
        q = source.read(prep.tables, vc_prior.table_indexes(step_index, n, latent)).reshape(n, latent)
        return Media("image", synthesise(prep, q, step_index, shape))
