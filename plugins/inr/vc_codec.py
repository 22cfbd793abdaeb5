"""The `inr-vc` codec: a shared, meta-learned SIREN modulated per patch by a latent (COIN++ / VC-INR style).

The same algorithm for both media, each with its own shipped base network: images in 32x32 patches, audio in
segments of 128 samples per channel, each segment normalised by a gain sent with it (`vc_audio.py`).

Encoding fits each patch's latent with the shipped weights frozen (the meta-learned inner steps, then Adam steps
within a time budget), quantizes all latents with one uniform step from a ladder (the finest whose estimated size
fits the rate target) and codes them with the shipped per-dimension prior tables. The decoder reads the integers,
multiplies by the step and evaluates the base network in float64 on one thread, in fixed chunks, so its output does
not depend on the caller's thread count.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from rcodec import Codec, EncodeResult, HeaderParam, MediaError, Option, UnsupportedError, WeightsError, learned
from rcodec.errors import FormatError
from rcodec.media import Audio, Media
from rcodec.weights import check_file_weights

from . import vc_audio, vc_prior
from .codec import AUDIO_KBPS, IMAGE_BPP, MAX_FRAMES, RATE_OPTIONS
from .vc_export import AUDIO_WEIGHTS_NAME, WEIGHTS_DIR, WEIGHTS_NAME
from .vc_model import VcConfig, coords, forward, from_patches, from_segments, to_patches, to_segments

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


IMAGE_WEIGHTS = learned.Weights(WEIGHTS_DIR, WEIGHTS_NAME, "train them with `rcodec train inr --export`")
AUDIO_WEIGHTS = learned.Weights(WEIGHTS_DIR, AUDIO_WEIGHTS_NAME,
                                "train them with `rcodec train inr --modality audio --export`")


def _load(weights: str | None, kind: str = "image") -> Prepared:
    """The base network for `kind` ("image" or "audio"): the shipped one, or the export at `weights`."""
    prep = learned.load_model((AUDIO_WEIGHTS if kind == "audio" else IMAGE_WEIGHTS).for_encoding(weights), _build)
    if (prep.cfg.dims == 1) != (kind == "audio"):
        raise WeightsError(f"{weights}: these inr-vc weights are for {'audio' if prep.cfg.dims == 1 else 'images'}, "
                           f"not {kind}")
    return prep


def _build(weights: learned.WeightsFile) -> Prepared:
    import torch

    try:
        payload = torch.load(weights.path, map_location="cpu", weights_only=True)
        cfg = VcConfig.from_dict(payload["config"])
        grid = payload["grid"].numpy().astype(np.float64)
        freqs = payload["freqs"].numpy()
        if grid.shape != (vc_prior.GRID,) or freqs.shape != (vc_prior.GRID, cfg.latent, vc_prior.SYMBOLS):
            raise ValueError("prior tables of the wrong shape")
        return Prepared(cfg, dict(payload["params"]), payload["log_lr"], int(payload["inner_steps"]),
                        float(payload["refine_lr"]), grid, vc_prior.tables(freqs), weights.digest)
    except (KeyError, RuntimeError, TypeError, ValueError, OSError, EOFError, AttributeError,
            pickle.UnpicklingError) as exc:
        raise WeightsError(f"{weights.path}: not an inr-vc weights file ({str(exc).splitlines()[0][:200]})") from None


def synthesise_values(prep: Prepared, q: np.ndarray, patch_steps: np.ndarray) -> np.ndarray:
    """Integers (N, latent) and each patch's ladder step (N,) -> the network's outputs (N, points, channels),
    float64 in fixed chunks of patches.

    Every chunk is computed on one thread by the same kernels whatever the machine's thread count; the second
    half of the chunks runs on `learned.side_thread()` while this thread computes the first. Chunks are independent, so
    the output does not depend on which thread computed them."""
    import torch

    cfg = prep.cfg
    z = torch.from_numpy(q.astype(np.float64) * prep.grid[patch_steps][:, None])
    params = {k: v.double() for k, v in prep.half.items()}
    points = torch.from_numpy(coords(cfg))

    def run(starts: list[int]) -> list:
        with torch.no_grad():  # grad mode is per thread
            return [forward(cfg, params, z[i:i + CHUNK], points) for i in starts]

    starts = list(range(0, z.shape[0], CHUNK))
    half = len(starts) // 2
    with learned.inference():
        later = learned.side_thread().submit(run, starts[half:]) if half else None
        first = run(starts[:half] if later else starts)
        return torch.cat(first + (later.result() if later else [])).numpy()


def synthesise(prep: Prepared, q: np.ndarray, step_index: int, shape: tuple[int, ...]) -> np.ndarray:
    """Integers (N, latent) -> uint8 image of `shape`."""
    cfg = prep.cfg
    height, width = shape[:2]
    grid = (-(-height // cfg.patch), -(-width // cfg.patch))
    values = synthesise_values(prep, q, np.full(len(q), step_index))
    pixels = from_patches(values, grid, height, width, cfg.patch)
    if len(shape) == 2 or shape[2] == 1:  # grey input was fitted as three equal channels
        pixels = learned.to_gray(pixels).reshape(shape)
    return pixels


def synthesise_audio(prep: Prepared, q: np.ndarray, steps: np.ndarray, ks: np.ndarray,
                     shape: tuple[int, ...]) -> np.ndarray:
    """Integers (N, latent), each segment's ladder step (N,) and gain (N,) -> float32 samples of `shape`
    (frames, channels)."""
    values = synthesise_values(prep, q, steps)
    coded = from_segments(vc_audio.denormalise(values, ks), shape[0], shape[1])  # mid and side for stereo
    return np.ascontiguousarray(np.clip(vc_audio.from_mid_side(coded), -1.0, 1.0).astype(np.float32))


def _check_audio_shape(shape: tuple[int, ...]) -> None:
    if len(shape) != 2 or not 0 < shape[0] <= MAX_FRAMES or not 1 <= shape[1] <= 8:
        raise MediaError(f"inr-vc takes audio of 1 to {MAX_FRAMES} frames and 1 to 8 channels, not shape {shape}")


class InrVcCodec(Codec):
    id = "inr-vc"
    version = 1
    media = ("image", "audio")
    lossless = False
    header_params = {"step": HeaderParam(int, 0, 1 << 16, required=True), "patch": HeaderParam(int, 1, 1 << 16),
                     "latent": HeaderParam(int, 1, 1 << 16), "user_weights": HeaderParam(bool)}
    description = "shared meta-learned SIREN, per-patch latent modulations, quantized + learned factorized prior"
    options = {
        **RATE_OPTIONS,
        "step": Option(int, None, f"quantization step index 0..{vc_prior.GRID - 1} (overrides the rate target)"),
        "steps": Option(int, None, "Adam refinement steps after the inner loop (default: the shipped value)"),
        "time_budget": Option(float, 50.0, "stop refining after this many seconds (the encode takes about this long)"),
        "weights": Option(str, None, "a weights file from `rcodec train inr --export` instead of the shipped one"),
    }
    decode_options = {"weights": Option(str, None, "the weights file the file was compressed with")}

    def encode(self, media: Media, params: dict[str, Any], sink) -> EncodeResult:
        kind = media.kind
        if kind not in self.media:
            raise MediaError(f"inr-vc takes images or audio, not {kind}")
        prep = _load(params.get("weights"), kind)
        cfg = prep.cfg
        step_index, refine = params.get("step"), params.get("steps")
        if step_index is not None and not 0 <= step_index < vc_prior.GRID:
            raise UnsupportedError(f"step must be 0..{vc_prior.GRID - 1}, got {step_index}")
        if (refine is not None and refine < 0) or any(params.get(k) is not None and params[k] <= 0
                                                      for k in ("bpp", "kbps")):
            raise UnsupportedError("steps must be >= 0, bpp and kbps > 0")
        if kind == "audio":
            _check_audio_shape(tuple(media.shape))
            # Decoded samples lie in [-1, 1] (`from_segments`): overs in float input are clipped first.
            segments = to_segments(vc_audio.to_mid_side(np.clip(media.data.samples, -1.0, 1.0)), cfg.patch)
            gains = vc_audio.gain_exponents(segments)
            target = vc_audio.normalise(segments, gains)
            seconds = media.data.frames / media.sample_rate
            budget = (params.get("kbps") or AUDIO_KBPS[params["quality"] - 1]) * 1000 * seconds \
                - vc_audio.gain_bits(gains)
            patch_steps = partial(vc_audio.segment_steps, ks=gains)  # the file's step -> every segment's
        else:
            image, _ = learned.rgb_image(media, self.id)
            target, _ = to_patches(image, cfg.patch)
            budget = (params.get("bpp") or IMAGE_BPP[params["quality"] - 1]) * image.shape[0] * image.shape[1]
            patch_steps = partial(np.full, len(target))  # one step for every patch
        z = self._fit(prep, target, refine, params["time_budget"], kind)
        if step_index is None:
            step_index = self._finest_within(prep, z, budget, patch_steps)
        steps = patch_steps(step_index)
        q = vc_prior.quantize(z, prep.grid[steps][:, None])
        if kind == "audio":
            vc_audio.write_gains(sink, gains)
        sink.write(q.ravel(), prep.tables, vc_prior.table_indexes(steps, q.shape[0], cfg.latent))
        if kind == "audio":
            recon = Media("audio", Audio(synthesise_audio(prep, q, steps, gains, tuple(media.shape)),
                                         media.sample_rate))
        else:
            recon = Media("image", synthesise(prep, q, step_index, tuple(media.shape)))
        record: dict[str, Any] = {"step": step_index, "patch": cfg.patch, "latent": cfg.latent}
        if params.get("weights"):
            record["user_weights"] = True
        return EncodeResult(record, prep.sha256, recon)

    @staticmethod
    def _fit(prep: Prepared, target: np.ndarray, refine: int | None, time_budget: float, kind: str) -> np.ndarray:
        """The latents of every patch, with a progress bar (on a terminal) showing the fit's PSNR."""
        import sys

        import torch
        from tqdm import tqdm

        from .vc_fit import fit_latents

        with learned.torch_threads(1):  # the fit is small; a second thread mostly contends with other work
            with tqdm(desc=f"inr-vc {kind} fit", unit="step", file=sys.stderr, disable=None, leave=False) as bar:
                def progress(step: int, mse: float) -> None:
                    bar.update(1)
                    bar.set_postfix_str(f"PSNR {-10 * np.log10(max(mse, 1e-12)):.2f} dB")

                return fit_latents(prep.cfg, {k: v.float() for k, v in prep.half.items()},
                                   torch.from_numpy(coords(prep.cfg).astype(np.float32)), torch.from_numpy(target),
                                   prep.log_lr.float().exp(), prep.inner_steps,
                                   refine if refine is not None else 10_000, time_budget, lr=prep.refine_lr,
                                   progress=progress).numpy()

    @staticmethod
    def _finest_within(prep: Prepared, z: np.ndarray, budget_bits: float, patch_steps) -> int:
        """The finest ladder step whose estimated code length fits the budget (the coarsest if none does);
        `patch_steps(j)` gives every patch's step for the file's step j."""
        choice = 0
        for j in range(vc_prior.GRID):
            steps = patch_steps(j)
            q = vc_prior.quantize(z, prep.grid[steps][:, None])
            bits = prep.tables.information_bits(q.ravel(), vc_prior.table_indexes(steps, q.shape[0], z.shape[1]))
            bits += 24 * int(np.sum(np.abs(q) > vc_prior.LEVELS))  # escapes cost extra beyond their symbol
            if bits > budget_bits:
                break
            choice = j
        return choice

    def decode(self, source, header, options) -> Media:
        kind = header.media
        if kind not in self.media:
            raise FormatError(f"inr-vc files hold images or audio, not {kind}")
        prep = _load(options.get("weights"), kind)
        check_file_weights(header.params, header.weights_sha256, options, prep.sha256)
        p, shape = header.params, tuple(header.shape)
        try:
            step_index, patch, latent = int(p["step"]), int(p["patch"]), int(p["latent"])
        except (KeyError, TypeError, ValueError):
            raise FormatError("inr-vc: the header lacks the step, patch or latent size") from None
        if not 0 <= step_index < vc_prior.GRID or patch != prep.cfg.patch or latent != prep.cfg.latent:
            raise FormatError("inr-vc: the header does not match the weights (step, patch or latent size)")
        if kind == "audio":
            _check_audio_shape(shape)
            n = shape[1] * -(-shape[0] // patch)
            gains = vc_audio.read_gains(source, n)
            steps = vc_audio.segment_steps(step_index, gains)
            q = source.read(prep.tables, vc_prior.table_indexes(steps, n, latent)).reshape(n, latent)
            return Media("audio", Audio(synthesise_audio(prep, q, steps, gains, shape), header.sample_rate))
        learned.check_image_shape(shape, self.id, channels=(1, 3))
        height, width = shape[:2]
        n = -(-height // patch) * -(-width // patch)
        q = source.read(prep.tables, vc_prior.table_indexes(step_index, n, latent)).reshape(n, latent)
        return Media("image", synthesise(prep, q, step_index, shape))
