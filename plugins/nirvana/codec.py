"""The `nirvana` codec: NIRVANA-style implicit neural representation of video (Maiya et al., CVPR 2023).

The clip is cut into groups of frames. Each group is represented by one small MLP that maps a patch's position
and frame (Fourier features) to the whole patch (YCbCr 4:2:0, `model.py`). Networks are fitted in order, each
starting from the previous group's decoded network (autoregressive), with quantization-aware steps and a rate
penalty on the change; the bitstream holds the first network's quantized weights and, for every later group, the
integer change from the previous group's. Capacity adapts to the content: a group that falls short of the first
group's quality by more than `ADAPT_DB` gets wider hidden layers (new units start as a no-op, so the previous
network stays the starting point) and is fitted again; the width is sent per group.

Only integers select coding tables (histograms sent as counts, `rcodec.entropy.histogram`), so the entropy-decoded
symbols are identical everywhere. The decoder evaluates the networks in float64 on one thread.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from typing import Any

import numpy as np

from rcodec import Codec, EncodeResult, FormatError, HeaderParam, MediaError, Option
from rcodec.entropy import CdfTables
from rcodec.entropy.histogram import read_histogram_coded, write_histogram_coded
from rcodec.media import Media
from rcodec.torch_runtime import codec_inference

from . import model
from .fit import fit_group, init_params, widen

# quality 1..8: (latent channels per patch, initial hidden width, step exponent offset in quarter octaves, rate
# penalty)
LADDER = ((8, 32, 4, 8e-3), (8, 48, 3, 6e-3), (12, 48, 2, 4e-3), (16, 64, 1, 3e-3), (16, 64, 0, 2e-3),
          (24, 80, -1, 1.5e-3), (32, 96, -2, 1e-3), (48, 128, -3, 7e-4))
LATENT_SCALE = 0.1
STEP_BASE = -6  # quarter octaves below a layer's initial weight scale: step = scale * 2^((STEP_BASE + offset) / 4)
ADAPT_DB = 1.0
FIRST_STEPS, LATER_STEPS = 300, 100  # fitting steps per effort level: the first group starts from scratch
FIRST_LR, LATER_LR = 1e-2, 3e-3
# Each fitting step sees 1/BATCH_DIVISOR of the group's patches. A quarter with 4x the steps fitted carphone's
# first group 4 dB better, but with the finer weight steps it needed the whole clip came out worse in
# rate-distortion and 4x slower to encode (see README), so full batches stay the default.
BATCH_DIVISOR = 1
K_MIN, K_MAX = -64, 15
LIMIT = 4095  # quantized weights and their changes stay within +-LIMIT
MAX_WIDTH, MAX_DEPTH, MAX_GROUP, MAX_PATCH = 512, 8, 64, 32
MAX_PARAMETERS = 1 << 22
MAX_LATENTS = 256
_WIDTH_TABLE = CdfTables.uniform(MAX_WIDTH // 8 + 1)
_K_TABLE = CdfTables.uniform(K_MAX - K_MIN + 1)
_RANGE_TABLE = CdfTables.uniform(2 * LIMIT + 1)


def step_of(k: int) -> float:
    return math.ldexp((1.0, 1.189207115002721, 1.4142135623730951, 1.681792830507429)[k % 4], k // 4)


def _initial_k(scale: float, offset: int) -> int:
    return min(max(round(4 * math.log2(scale)) + STEP_BASE + offset, K_MIN), K_MAX)


def _pad_to(ints: list[np.ndarray], shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    out = []
    for q, shape in zip(ints, shapes):
        z = np.zeros(shape, dtype=np.int64)
        z[tuple(slice(0, n) for n in q.shape)] = q
        out.append(z)
    return out


class Structure:
    """What the header says about the networks, validated; shared by encoder and decoder."""

    def __init__(self, shape: tuple[int, ...], patch: int, group: int, depth: int, width: int, latents: int) -> None:
        if len(shape) != 4 or shape[3] != 3 or 0 in shape:
            raise MediaError(f"nirvana codes RGB video (T, H, W, 3), got shape {shape}")
        if not (2 <= patch <= MAX_PATCH and patch % 2 == 0 and 1 <= group <= MAX_GROUP and 1 <= depth <= MAX_DEPTH
                and 8 <= width <= MAX_WIDTH and width % 8 == 0 and 1 <= latents <= MAX_LATENTS):
            raise FormatError(f"nirvana: invalid network description (patch {patch}, group {group}, depth {depth}, "
                              f"width {width})")
        self.frames, self.height, self.width = shape[:3]
        self.layout = model.Layout(self.height, self.width, patch, group)
        self.depth, self.initial_width, self.latents = depth, width, latents
        self.groups = -(-self.frames // group)
        self.patches = self.layout.rows * self.layout.cols
        if self.patches * latents > MAX_PARAMETERS:
            raise FormatError(f"nirvana: {self.patches} patches of {latents} latents is more than the format allows")

    def shapes(self, width: int) -> list[tuple[int, ...]]:
        """The latent grid, then the MLP's weights and biases."""
        mlp = model.param_shapes(self.latents + self.layout.feature_count, width, self.depth, self.layout.outputs)
        return [(self.patches, self.latents)] + mlp

    def initial_ks(self, offset: int) -> list[int]:
        """Quantization step exponents: relative to the initial scale of each tensor (a layer's bias shares its
        weights' step)."""
        shapes = self.shapes(self.initial_width)
        scales = [LATENT_SCALE] + [math.sqrt(2.0 / shapes[i if len(s) == 2 else i - 1][0])
                                   for i, s in enumerate(shapes) if i > 0]
        return [_initial_k(scale, offset) for scale in scales]


class NirvanaCodec(Codec):
    id = "nirvana"
    version = 1
    media = ("video",)
    lossless = False
    description = "NIRVANA-style video INR: patch-wise MLP per group of frames, each from the previous one"
    options = {
        "quality": Option(int, 4, "rate point 1..8 (network width, weight step, rate penalty)", tuple(range(1, 9))),
        "effort": Option(int, 1, "encoder effort 1..4: fitting steps per group (more: slower, better)",
                         tuple(range(1, 5)), flag="--effort"),
        "steps": Option(int, None, "fitting steps of the first group (later groups: 30% of it); overrides effort"),
        "group": Option(int, 8, "frames per group (one network each)"),
        "patch": Option(int, 8, "patch size in pixels (even)"),
        "depth": Option(int, 3, "hidden layers"),
        "adaptive": Option(bool, True, "widen a group's network when its quality falls short"),
        "seed": Option(int, 0, "random seed of the first network"),
    }
    header_params = {"patch": HeaderParam(int, 2, MAX_PATCH, required=True),
                     "group": HeaderParam(int, 1, MAX_GROUP, required=True),
                     "depth": HeaderParam(int, 1, MAX_DEPTH, required=True),
                     "width": HeaderParam(int, 8, MAX_WIDTH, required=True),
                     "latents": HeaderParam(int, 1, MAX_LATENTS, required=True),
                     "frame_rate": HeaderParam(str, 1, 32, required=True)}  # written by the pipeline, "num/den"

    def encode(self, media: Media, params: dict[str, Any], sink) -> EncodeResult:
        import torch
        from tqdm import tqdm

        latents, width, k_offset, lam = LADDER[params["quality"] - 1]
        st = Structure(media.shape, params["patch"], params["group"], params["depth"], width, latents)
        first_steps = params["steps"] if params["steps"] is not None else FIRST_STEPS * params["effort"]
        later_steps = max(1, first_steps * LATER_STEPS // FIRST_STEPS)
        if first_steps < 1:
            raise MediaError("nirvana: steps must be at least 1")
        shapes = st.shapes(width)
        ks = st.initial_ks(k_offset)
        sink.write(np.asarray(ks, np.int32) - K_MIN, _K_TABLE)
        steps = [step_of(k) for k in ks]
        frames = media.data
        recon = np.empty_like(frames)
        features = torch.from_numpy(st.layout.features().astype(np.float32))
        output_weight = model.output_weights(st.layout.patch)

        def forward(ps, index):
            return model.forward(ps[1:], model.network_input(ps[0], features, index))

        prev_ints: list[np.ndarray] | None = None
        ref_psnr, current = None, self._init(st, shapes, params["seed"])
        before = torch.get_num_threads()
        start = time.monotonic()
        try:
            torch.set_num_threads(1)  # small matrices: a second thread mostly contends
            with tqdm(total=st.groups, desc="nirvana", unit="group", file=sys.stderr, disable=None, leave=False) as bar:
                for g in range(st.groups):
                    chunk, frame_weight = self._group_frames(frames, g, st.layout.frames)
                    target = model.to_patches(chunk, st.layout)
                    sample_weight = np.repeat(frame_weight, st.patches)
                    first = prev_ints is None
                    reference = [np.zeros_like(p) for p in current] if first else current

                    fit = functools.partial(fit_group, forward, target=target, sample_weight=sample_weight,
                                            output_weight=output_weight, steps=steps,
                                            iterations=first_steps if first else later_steps,
                                            lr=FIRST_LR if first else LATER_LR, lam=0.0 if first else lam,
                                            batch=max(1, len(target) // BATCH_DIVISOR), seed=params["seed"] + g)

                    ints = self._quantize(fit(current, reference=reference), steps)
                    rgb = self._synthesise(st, ints, steps)
                    psnr = _psnr(rgb, chunk, frame_weight)
                    if ref_psnr is None:
                        ref_psnr = psnr
                    elif (params["adaptive"] and psnr < ref_psnr - ADAPT_DB
                          and width + 8 <= min(MAX_WIDTH, 2 * st.initial_width)):
                        width = min(MAX_WIDTH, 2 * st.initial_width, width + max(8, (width // 4) // 8 * 8))
                        shapes = st.shapes(width)
                        seed = params["seed"] + g
                        ints = self._quantize(fit(current[:1] + widen(current[1:], width, seed),
                                                  reference=reference[:1] + widen(reference[1:], width, seed)), steps)
                        rgb = self._synthesise(st, ints, steps)
                        psnr = _psnr(rgb, chunk, frame_weight)
                    base = _pad_to(prev_ints, shapes) if prev_ints is not None else [np.zeros(s, np.int64)
                                                                                      for s in shapes]
                    self._write_group(sink, width, ints, base)
                    count = int(frame_weight.sum())
                    recon[g * st.layout.frames : g * st.layout.frames + count] = rgb[:count]
                    prev_ints, current = ints, [q * s for q, s in zip(ints, steps)]
                    bar.set_postfix_str(f"PSNR {psnr:.2f} dB, width {width}, {time.monotonic() - start:.0f} s")
                    bar.update(1)
        finally:
            torch.set_num_threads(before)
        record = {"patch": st.layout.patch, "group": st.layout.frames, "depth": st.depth, "width": st.initial_width,
                  "latents": st.latents}
        return EncodeResult(record, None, Media("video", recon))

    def decode(self, source, header, options) -> Media:
        import torch

        p = header.params
        try:
            patch, group, depth, width, latents = (int(p[k]) for k in ("patch", "group", "depth", "width", "latents"))
        except (KeyError, TypeError, ValueError):
            raise FormatError("nirvana: the header lacks the network description") from None
        st = Structure(tuple(header.shape), patch, group, depth, width, latents)
        if st.frames * st.height * st.width * 3 > 1 << 30:
            raise FormatError(f"nirvana: refusing to decode a video of shape {tuple(header.shape)}")
        shapes = st.shapes(width)
        ks = (source.read(_K_TABLE, count=len(shapes)).astype(np.int64) + K_MIN).tolist()
        steps = [step_of(k) for k in ks]
        out = np.empty(header.shape, dtype=np.uint8)
        prev: list[np.ndarray] | None = None
        features = torch.from_numpy(st.layout.features())
        for g in range(st.groups):
            code = int(source.read(_WIDTH_TABLE, count=1)[0])
            if code * 8 < width or code * 8 > min(MAX_WIDTH, 2 * st.initial_width):
                raise FormatError(f"nirvana: group {g} has an invalid width {code * 8}")
            width = code * 8
            shapes = st.shapes(width)
            if sum(int(np.prod(s)) for s in shapes) > MAX_PARAMETERS:
                raise FormatError("nirvana: the stream describes an implausibly large network")
            base = _pad_to(prev, shapes) if prev is not None else [np.zeros(s, np.int64) for s in shapes]
            prev = self._read_group(source, base, shapes)
            rgb = self._synthesise(st, prev, steps, features)
            start = g * st.layout.frames
            out[start : start + st.layout.frames] = rgb[: min(st.layout.frames, st.frames - start)]
        return Media("video", out)

    # --- pieces ----------------------------------------------------------------------------------------------------

    @staticmethod
    def _init(st: Structure, shapes: list[tuple[int, ...]], seed: int) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        return [rng.normal(0.0, LATENT_SCALE, shapes[0])] + init_params(shapes[1:], seed + 1)

    @staticmethod
    def _group_frames(frames: np.ndarray, g: int, group: int) -> tuple[np.ndarray, np.ndarray]:
        """The group's frames as float [0, 1], the last group padded by repeating its last frame (weight 0)."""
        chunk = frames[g * group : (g + 1) * group]
        weight = np.zeros(group)
        weight[: len(chunk)] = 1
        if len(chunk) < group:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], group - len(chunk), axis=0)])
        return chunk.astype(np.float32) / 255.0, weight

    @staticmethod
    def _quantize(params: list[np.ndarray], steps: list[float]) -> list[np.ndarray]:
        return [np.clip(np.round(p / s), -LIMIT, LIMIT).astype(np.int64) for p, s in zip(params, steps)]

    @staticmethod
    def _synthesise(st: Structure, ints: list[np.ndarray], steps: list[float], features=None) -> np.ndarray:
        """Dequantized network -> uint8 RGB frames of the group: float64, one thread, the decoder's exact path."""
        import torch

        if features is None:
            features = torch.from_numpy(st.layout.features())
        with codec_inference():
            weights = [torch.from_numpy(q.astype(np.float64) * s) for q, s in zip(ints, steps)]
            out = model.forward(weights[1:], model.network_input(weights[0], features))
            rgb = model.to_rgb(out, st.layout, st.height, st.width).numpy()
        return np.round(np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)

    @staticmethod
    def _write_group(sink, width: int, ints: list[np.ndarray], base: list[np.ndarray]) -> None:
        sink.write(np.array([width // 8]), _WIDTH_TABLE)
        delta = np.concatenate([(q - b).ravel() for q, b in zip(ints, base)])
        lo, hi = int(delta.min()), int(delta.max())
        if lo < -LIMIT or hi > LIMIT:
            raise MediaError("nirvana: a weight changed by more than the format allows")  # cannot happen: clipped
        sink.write(np.array([lo + LIMIT, hi - lo]), _RANGE_TABLE)
        write_histogram_coded(sink, delta, lo, hi - lo + 1)

    @staticmethod
    def _read_group(source, base: list[np.ndarray], shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        lo, span = (int(v) for v in source.read(_RANGE_TABLE, count=2))
        lo -= LIMIT
        total = sum(int(np.prod(s)) for s in shapes)
        delta = read_histogram_coded(source, total, lo, span + 1, "nirvana: the weight histogram does not match "
                                     "the network size").astype(np.int64)
        out, at = [], 0
        for b, s in zip(base, shapes):
            n = int(np.prod(s))
            q = b + delta[at : at + n].reshape(s)
            if np.any(np.abs(q) > LIMIT):
                raise FormatError("nirvana: a decoded weight is out of range")
            out.append(q)
            at += n
        return out


def _psnr(rgb: np.ndarray, target: np.ndarray, weight: np.ndarray) -> float:
    keep = weight > 0
    mse = float(np.mean((rgb[keep].astype(np.float64) / 255 - target[keep]) ** 2))
    return 10 * math.log10(1 / max(mse, 1e-12))
