"""The `alit`, `karl` and `alit-fixed` codecs: an image is cut into 32x32 tiles; each tile becomes a prefix of its
ordered 1D tokens whose length (an index into the ladder) is chosen per tile at the encoder and written to the
stream, followed by the FSQ symbols of those tokens, entropy coded with per-(position, dimension) integer priors.

ALIT chooses a tile's length by rollouts: decode with 1, 2, 3, ... tokens and stop at the first length whose 8-bit
reconstruction reaches the target PSNR. KARL chooses it in one pass: the quality head predicts the PSNR of every
length and the tile halts at the first one predicted to reach the target. `alit-fixed` gives every tile the same
length (the control). The decoder only reads integers, so its output does not depend on how a length was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rcodec import Codec, EncodeResult, HeaderParam, MediaError, Option, UnsupportedError, WeightsError, learned, limits
from rcodec.media import Media
from rcodec.weights import check_file_weights

TARGETS = (20.0, 22.0, 24.0, 26.0, 28.0, 30.0, 32.0)  # target PSNR (dB) of quality 1..7
MIN_TARGET, MAX_TARGET = 10.0, 60.0
CHUNK = 256  # tiles per forward pass


@dataclass
class Prepared:
    model: Any
    token_freqs: np.ndarray  # (T * C, Lmax) int64: prior of each token position and FSQ dimension
    count_freqs: np.ndarray  # (R + 1, R) int64: prior of a tile's ladder index given the previous tile's
    sha256: bytes
    token_tables: Any  # CdfTables of token_freqs
    count_tables: Any  # CdfTables of count_freqs


WEIGHTS = learned.Weights.of_plugin(__file__, "adaptive.pt", "train them with `rcodec train adaptive --export`")
WEIGHTS_DIR, WEIGHTS_NAME = WEIGHTS.folder, WEIGHTS.name


def _load(weights: str | None = None) -> Prepared:
    """The tokenizer of a user's weights file, or of the shipped one (built once per sha256)."""
    return learned.load_model(WEIGHTS.for_encoding(weights), _build)


def _build(weights: learned.WeightsFile) -> Prepared:
    import torch

    from rcodec.entropy import CdfTables

    from .model import AdaptiveConfig, AdaptiveTokenizer

    try:
        payload = torch.load(weights.path, map_location="cpu", weights_only=True)
        cfg = AdaptiveConfig.from_dict(payload["config"])
        model = AdaptiveTokenizer(cfg)
        model.load_weights({k: v.float() for k, v in payload["state_dict"].items()})
    except (KeyError, RuntimeError, TypeError, ValueError, OSError) as exc:
        raise WeightsError(f"{weights.path}: not an adaptive tokenizer weights file ({exc})") from None
    model.eval()
    token_freqs = payload["token_freqs"].numpy().astype(np.int64)
    count_freqs = payload["count_freqs"].numpy().astype(np.int64)
    return Prepared(model, token_freqs, count_freqs, weights.digest, CdfTables.from_frequencies(token_freqs),
                    CdfTables.from_frequencies(count_freqs))


def _grid(height: int, width: int, tile: int) -> tuple[int, int]:
    return learned.grid(height, width, tile)


def _tiles(image: np.ndarray, tile: int):
    """(H, W, 3) uint8 -> (N, 3, tile, tile) float tiles in raster order, the image edge-padded to whole tiles."""
    import torch

    gh, gw = _grid(*image.shape[:2], tile)
    padded = learned.pad_to_multiple(image, tile)
    t = padded.reshape(gh, tile, gw, tile, 3).transpose(0, 2, 4, 1, 3).reshape(gh * gw, 3, tile, tile)
    return torch.from_numpy(np.ascontiguousarray(t)).float() / 255.0


def _real_pixels(height: int, width: int, tile: int):
    """(N, 1, tile, tile) float mask of the tiles' pixels that lie inside the image (not edge padding)."""
    import torch

    gh, gw = _grid(height, width, tile)
    inside = np.zeros((gh * tile, gw * tile), np.float32)
    inside[:height, :width] = 1
    t = inside.reshape(gh, tile, gw, tile).transpose(0, 2, 1, 3).reshape(gh * gw, 1, tile, tile)
    return torch.from_numpy(np.ascontiguousarray(t))


def _untile(tiles, height: int, width: int, tile: int) -> np.ndarray:
    import torch

    gh, gw = _grid(height, width, tile)
    pix = torch.round(tiles.clamp(0, 1) * 255).to(torch.uint8).numpy()
    img = pix.reshape(gh, gw, 3, tile, tile).transpose(0, 3, 1, 4, 2).reshape(gh * tile, gw * tile, 3)
    return np.ascontiguousarray(img[:height, :width])


def _target(params: dict[str, Any]) -> float:
    target = params.get("target_psnr")
    if target is None:
        target = TARGETS[int(params.get("quality") or 4) - 1]
    target = float(target)
    if not MIN_TARGET <= target <= MAX_TARGET:
        raise UnsupportedError(f"target_psnr must be between {MIN_TARGET:g} and {MAX_TARGET:g} dB, got {target:g}")
    return target


def _psnr(x_hat, x):
    import torch

    rounded = torch.round(x_hat.clamp(0, 1) * 255) / 255
    mse = ((rounded - x) ** 2).flatten(1).mean(1).clamp(min=1e-10)
    return -10 * torch.log10(mse)


class _AdaptiveBase(Codec):
    version = 1
    media = ("image",)
    lossless = False
    header_params = {"gray": HeaderParam(bool), "tokens": HeaderParam(int, 0, limits.MAX_LEARNED_PIXELS),
                     "target_psnr": HeaderParam(float, 0.0, 100.0), "allocation": HeaderParam(str, 1, 32),
                     "slope": HeaderParam(float, 0.0, 1e30), "user_weights": HeaderParam(bool)}
    mode = ""
    options = {
        "quality": Option(int, 4, "target PSNR 1..7 = " + ", ".join(f"{t:g}" for t in TARGETS) + " dB",
                          tuple(range(1, len(TARGETS) + 1))),
        "target_psnr": Option(float, None, "target PSNR in dB (overrides quality)", range=(MIN_TARGET, MAX_TARGET),
                              flag="--target-psnr"),
        "allocation": Option(str, "tile", "what must reach the target: every 'tile', or the 'image' as a whole with "
                             "the fewest bits (rate-distortion allocation across tiles); 'slope': no target, every "
                             "tile trades error for bits at the rate set by `slope`", ("tile", "image", "slope")),
        "slope": Option(float, None, "allocation=slope: squared error (8-bit units, summed over the pixels' RGB "
                        "values) worth one bit; larger = fewer bits"),
        "fixed_tokens": Option(int, None, "give every tile this many tokens (a ladder length; the control)"),
        "weights": Option(str, None, "a weights file from `rcodec train adaptive --export` instead of the shipped"),
    }
    decode_options = {"weights": Option(str, None, "the weights file the file was compressed with")}

    def _choose(self, prep: Prepared, x, codes, pooled, target: float, fixed: int | None):
        """Ladder index per tile (int64 tensor) and, when the choice decoded them, the reconstructions."""
        import torch

        ladder = prep.model.cfg.ladder
        n = x.shape[0]
        if fixed is not None:
            return torch.full((n,), ladder.index(fixed), dtype=torch.long), None
        if self.mode == "karl":
            curve = prep.model.quality_curve(pooled)
            ok = curve >= target
            ok[:, -1] = True  # the longest prefix when no length is predicted to reach the target
            return ok.long().argmax(dim=1), None
        # ALIT: rollouts of growing length; a tile stops at the first length that reaches the target
        q = prep.model.fsq.dequantize(prep.model.fsq.indices(codes))  # exactly what the decoder will see
        choice = torch.full((n,), len(ladder) - 1, dtype=torch.long)
        recon = torch.empty_like(x)
        todo = torch.arange(n)
        for r, k in enumerate(ladder):
            out = prep.model.decode(q[todo], torch.full((len(todo),), k))
            done = (_psnr(out, x[todo]) >= target) if r < len(ladder) - 1 else torch.ones(len(todo), dtype=bool)
            choice[todo[done]] = r
            recon[todo[done]] = out[done]
            todo = todo[~done]
            if len(todo) == 0:
                break
        return choice, recon

    def _allocate_image(self, prep: Prepared, x, target: float | None, height: int, width: int,
                        slope: float | None = None):
        """Ladder index per tile (int64 tensor) for the whole image to reach `target` dB with the fewest bits
        (`allocation.allocate`), or, without a target, at the given slope (`allocation.allocate_at_slope`).
        ALIT measures every tile's error at every length by decoding it; KARL takes the errors its quality head
        predicts, in the same single pass as before."""
        import torch

        from .allocation import allocate, allocate_at_slope, prefix_bits, token_bits

        model, cfg = prep.model, prep.model.cfg
        real = _real_pixels(height, width, cfg.tile)  # (n, 1, tile, tile): 1 inside the image, 0 in the padding
        sse, bits = [], []
        for s in range(0, x.shape[0], CHUNK):
            xc, mask = x[s:s + CHUNK], real[s:s + CHUNK]
            codes, pooled = model.encode(xc)
            idx = model.fsq.indices(codes)
            bits.append(prefix_bits(token_bits(idx.numpy(), prep.token_freqs, len(cfg.levels)), cfg.ladder))
            if self.mode == "karl":
                mse = torch.pow(10.0, -model.quality_curve(pooled) / 10)  # predicted, per tile
                sse.append((mse * 3 * mask.flatten(1).sum(1, keepdim=True)).double().numpy())
                continue
            q = model.fsq.dequantize(idx)
            rows = []
            for k in cfg.ladder:
                out = torch.round(model.decode(q, torch.full((len(xc),), k)).clamp(0, 1) * 255) / 255
                rows.append((((out - xc) ** 2) * mask).flatten(1).sum(1).double())
            sse.append(torch.stack(rows, 1).numpy())
        sse, bits = np.concatenate(sse), np.concatenate(bits)
        if target is None:
            return torch.from_numpy(allocate_at_slope(sse * 255.0 ** 2, bits, slope)).long()
        budget = 3 * height * width * 10 ** (-target / 10)
        return torch.from_numpy(allocate(sse, bits, budget)).long()

    def encode(self, media: Media, params: dict[str, Any], sink) -> EncodeResult:
        import torch

        image, gray = learned.rgb_image(media, "the adaptive tokenizers")
        prep = _load(params.get("weights"))
        cfg = prep.model.cfg
        fixed = params.get("fixed_tokens")
        if self.mode == "fixed" and fixed is None:
            fixed = cfg.ladder[int(params.get("quality") or 4) - 1] if params.get("target_psnr") is None else None
            if fixed is None:
                raise UnsupportedError("alit-fixed takes quality or fixed_tokens, not target_psnr")
        if fixed is not None and fixed not in cfg.ladder:
            raise UnsupportedError(f"fixed_tokens must be one of {list(cfg.ladder)}, got {fixed}")
        target = _target(params) if fixed is None and params.get("allocation") != "slope" else None
        allocation = params.get("allocation") or "tile"
        if allocation not in ("tile", "image", "slope"):
            raise UnsupportedError(f"allocation must be 'tile', 'image' or 'slope', got {allocation!r}")
        slope = params.get("slope")
        if allocation == "slope":
            if fixed is not None:
                raise UnsupportedError("allocation=slope does not take fixed_tokens")
            if slope is None or not slope > 0:
                raise UnsupportedError("allocation=slope needs slope > 0 (squared error per bit)")
        height, width = image.shape[:2]
        x = _tiles(image, cfg.tile)
        choices, symbols, recons = [], [], []
        with learned.inference():
            image_choice = None
            if allocation == "slope":
                image_choice = self._allocate_image(prep, x, None, height, width, slope)
            elif target is not None and allocation == "image":
                image_choice = self._allocate_image(prep, x, target, height, width)
            for s in range(0, x.shape[0], CHUNK):
                xc = x[s:s + CHUNK]
                codes, pooled = prep.model.encode(xc)
                if image_choice is not None:
                    choice, recon = image_choice[s:s + CHUNK], None
                else:
                    choice, recon = self._choose(prep, xc, codes, pooled, target, fixed)
                idx = prep.model.fsq.indices(codes)
                counts = torch.tensor(cfg.ladder)[choice]
                if recon is None:
                    recon = prep.model.decode(prep.model.fsq.dequantize(idx), counts)
                choices.append(choice)
                symbols.append(idx)
                recons.append(recon)
        choice = torch.cat(choices).numpy()
        idx = torch.cat(symbols).numpy()
        token_tables, count_tables = prep.token_tables, prep.count_tables
        sink.write(choice, count_tables, _count_contexts(choice, len(cfg.ladder)))
        values, indexes = _token_symbols(idx, np.asarray(cfg.ladder)[choice], len(cfg.levels))
        sink.write(values, token_tables, indexes)
        pixels = _untile(torch.cat(recons), height, width, cfg.tile)
        if gray:
            pixels = learned.to_gray(pixels)
        record: dict[str, Any] = {"gray": gray, "tokens": int(np.asarray(cfg.ladder)[choice].sum())}
        if target is not None:
            record["target_psnr"] = target
        if target is not None or allocation == "slope":
            record["allocation"] = allocation
        if allocation == "slope":
            record["slope"] = float(slope)
        if params.get("weights"):
            record["user_weights"] = True
        return EncodeResult(record, prep.sha256, Media("image", pixels))

    def decode(self, source, header, options) -> Media:
        import torch

        prep = learned.load_model(WEIGHTS.for_decoding(options.get("weights"), header.weights_sha256), _build)
        check_file_weights(header.params, header.weights_sha256, options, prep.sha256)
        shape = header.shape
        learned.check_image_shape(shape, "the adaptive tokenizers")
        cfg = prep.model.cfg
        height, width = shape[:2]
        gh, gw = _grid(height, width, cfg.tile)
        n = gh * gw
        token_tables, count_tables = prep.token_tables, prep.count_tables
        choice = _read_counts(source, count_tables, n, len(cfg.ladder))
        counts = np.asarray(cfg.ladder)[choice]
        c = len(cfg.levels)
        pos = np.concatenate([np.arange(k) for k in counts]) if n else np.zeros(0, np.int64)
        indexes = (pos[:, None] * c + np.arange(c)[None, :]).ravel()
        values = source.read(token_tables, indexes.astype(np.int32))
        levels = np.tile(np.asarray(cfg.levels), len(pos))
        if values.size and (values.min() < 0 or np.any(values >= levels)):
            raise MediaError("decoded token symbol out of range")
        idx = np.zeros((n, cfg.max_tokens, c), np.int64)
        tile_of = np.repeat(np.arange(n), counts)
        idx[tile_of, pos] = values.reshape(-1, c)
        out = []
        with learned.inference():
            q = prep.model.fsq.dequantize(torch.from_numpy(idx))
            k = torch.from_numpy(counts.astype(np.int64))
            for s in range(0, n, CHUNK):
                out.append(prep.model.decode(q[s:s + CHUNK], k[s:s + CHUNK]))
            pixels = _untile(torch.cat(out), height, width, cfg.tile)
        return Media("image", learned.to_gray(pixels) if len(shape) == 2 else pixels)


def _count_contexts(choice: np.ndarray, rungs: int) -> np.ndarray:
    """Table index of each tile's ladder index: the previous tile's index (the first tile uses table `rungs`)."""
    return np.concatenate([[rungs], choice[:-1]]).astype(np.int32)


def _read_counts(source, tables, n: int, rungs: int) -> np.ndarray:
    out = np.empty(n, np.int64)
    prev = rungs
    for i in range(n):  # sequential: each table depends on the previous decoded value
        v = int(source.read(tables, np.array([prev], np.int32))[0])
        if not 0 <= v < rungs:
            raise MediaError("decoded token count out of range")
        out[i] = prev = v
    return out


def _token_symbols(idx: np.ndarray, counts: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
    """The kept tokens' symbols in tile then position then dimension order, with their (position, dim) table."""
    keep = np.arange(idx.shape[1])[None, :] < counts[:, None]
    values = idx[keep].reshape(-1)
    pos = np.nonzero(keep)[1]
    indexes = (pos[:, None] * c + np.arange(c)[None, :]).ravel()
    return values.astype(np.int32), indexes.astype(np.int32)


class AlitCodec(_AdaptiveBase):
    id = "alit"
    mode = "alit"
    description = "adaptive-length tokenizer, 32x32 tiles; token count per tile by rollouts to a target PSNR"


class KarlCodec(_AdaptiveBase):
    id = "karl"
    mode = "karl"
    description = "adaptive-length tokenizer, 32x32 tiles; token count per tile predicted in one pass (halting head)"


class AlitFixedCodec(_AdaptiveBase):
    id = "alit-fixed"
    mode = "fixed"
    description = "the same tokenizer with one token count for every tile (control); quality 1..10 = ladder length"
    options = {
        "quality": Option(int, 7, "tokens per tile: 1..10 = 1, 2, 3, 4, 6, 8, 12, 16, 24, 32",
                          tuple(range(1, 11))),
        "fixed_tokens": Option(int, None, "tokens per tile (a ladder length; overrides quality)"),
        "weights": Option(str, None, "a weights file from `rcodec train adaptive --export` instead of the shipped"),
    }


def tile_counts(data: bytes, weights: str | None = None) -> np.ndarray:
    """Token count of every tile of an `alit`/`karl`/`alit-fixed` file (raster order), read from its stream
    without running the decoder network."""
    from rcodec import container
    from rcodec.codec import SymbolSource
    from rcodec.registry import get_registry

    c = container.read(bytes(data))
    h = c.header
    if h.codec not in (AlitCodec.id, KarlCodec.id, AlitFixedCodec.id):
        raise UnsupportedError(f"not an adaptive tokenizer file (codec {h.codec!r})")
    prep = _load(weights)
    ladder = prep.model.cfg.ladder
    gh, gw = _grid(h.shape[0], h.shape[1], prep.model.cfg.tile)
    source = SymbolSource(get_registry().coder(h.coder), c.streams)
    return np.asarray(ladder)[_read_counts(source, prep.count_tables, gh * gw, len(ladder))]
