"""The shared base network of `inr-vc`: one SIREN for every patch, shifted per patch by a latent (COIN++ style).

A patch of `patch` x `patch` pixels is a function (x, y) in [-1, 1]^2 -> RGB; for audio (`dims` = 1) a patch is a
segment of `patch` samples of one channel, a function t in [-1, 1] -> the sample, normalised to [0, 1] by a gain
sent per segment (`vc_audio.py`). Every hidden layer l computes
sin(omega * (h W_l + b_l + s_l)), where the shifts s = z A (all layers at once) come from the patch's latent z by
one shared linear map A. The output layer's weights are modulated too, W_out + reshape(z B) (as VC-INR modulates
weights): that part is linear in z, so a few gradient steps already fit it well, while a small shift-only SIREN
(COIN++) learned too slowly on one core. Only z is sent; W, b, A and B are shipped once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class VcConfig:
    patch: int = 32
    width: int = 48
    depth: int = 4  # modulated hidden layers
    latent: int = 64
    omega: float = 30.0
    channels: int = 3
    dims: int = 2  # coordinate dimensions: 2 for image patches, 1 for audio segments

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> VcConfig:
        return cls(int(d["patch"]), int(d["width"]), int(d["depth"]), int(d["latent"]), float(d["omega"]),
                   int(d.get("channels", 3)), int(d.get("dims", 2)))


# The audio base network: 128-sample segments of one channel, wider than the image network and one layer
# shallower. omega 30 learned fastest of 15, 30, 60 and 100 in 400-600-step trials on the training clips.
AUDIO_CONFIG = VcConfig(patch=128, width=64, depth=3, latent=64, omega=30.0, channels=1, dims=1)


PARAM_NAMES = ("w_in", "b_in", "w_hidden", "b_hidden", "w_out", "b_out", "a", "b")


def init_params(cfg: VcConfig, seed: int) -> dict:
    """SIREN initialisation (Sitzmann et al. 2020); the latent maps are scaled so that |z| ~ 1 moves a hidden
    phase by about one radian and the output by about 0.2."""
    import torch

    g = torch.Generator().manual_seed(seed)
    w, h = cfg.width, cfg.depth

    def uni(shape, bound):
        return ((torch.rand(*shape, generator=g) * 2 - 1) * bound).requires_grad_()

    hidden = math.sqrt(6.0 / w) / cfg.omega
    return {
        "w_in": uni((cfg.dims, w), 0.5), "b_in": uni((w,), 0.5),
        "w_hidden": uni((h - 1, w, w), hidden), "b_hidden": uni((h - 1, w), hidden),
        "w_out": uni((w, cfg.channels), hidden), "b_out": uni((cfg.channels,), 0.0),
        "a": uni((cfg.latent, h * w), math.sqrt(3.0 / cfg.latent) / cfg.omega),
        "b": uni((cfg.latent, w * cfg.channels), 0.01),
    }


def patch_coords(patch: int) -> np.ndarray:
    """(patch * patch, 2) coordinates in [-1, 1], row-major (y, x)."""
    axis = np.linspace(-1.0, 1.0, patch)
    yy, xx = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([yy.ravel(), xx.ravel()], axis=1)


def coords(cfg: VcConfig) -> np.ndarray:
    """The coordinates of one patch: (patch * patch, 2) for images, (patch, 1) for audio segments."""
    return patch_coords(cfg.patch) if cfg.dims == 2 else np.linspace(-1.0, 1.0, cfg.patch)[:, None]


def forward(cfg: VcConfig, params: dict, z, coords):
    """Latents z (B, latent) and coords (P, dims) -> values (B, P, channels), centred on 0.5."""
    import torch

    shifts = (z @ params["a"]).reshape(z.shape[0], cfg.depth, cfg.width)
    h = torch.sin(cfg.omega * ((coords @ params["w_in"] + params["b_in"])[None] + shifts[:, None, 0]))
    for layer in range(cfg.depth - 1):
        pre = h @ params["w_hidden"][layer] + params["b_hidden"][layer] + shifts[:, None, layer + 1]
        h = torch.sin(cfg.omega * pre)
    w_out = params["w_out"] + (z @ params["b"]).reshape(z.shape[0], cfg.width, cfg.channels)
    return torch.bmm(h, w_out) + params["b_out"] + 0.5


def to_patches(image: np.ndarray, patch: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(H, W, C) uint8 -> (N, patch * patch, C) float32 in [0, 1], raster order, edge-padded to whole patches."""
    height, width, c = image.shape
    gh, gw = -(-height // patch), -(-width // patch)
    padded = np.pad(image, ((0, gh * patch - height), (0, gw * patch - width), (0, 0)), mode="edge")
    t = padded.reshape(gh, patch, gw, patch, c).transpose(0, 2, 1, 3, 4).reshape(gh * gw, patch * patch, c)
    return t.astype(np.float32) / 255.0, (gh, gw)


def from_patches(values: np.ndarray, grid: tuple[int, int], height: int, width: int, patch: int) -> np.ndarray:
    """(N, patch * patch, C) floats -> (H, W, C) uint8, cropped to the image."""
    gh, gw = grid
    c = values.shape[-1]
    img = values.reshape(gh, gw, patch, patch, c).transpose(0, 2, 1, 3, 4).reshape(gh * patch, gw * patch, c)
    return np.ascontiguousarray(np.round(np.clip(img[:height, :width], 0.0, 1.0) * 255).astype(np.uint8))


def to_segments(samples: np.ndarray, segment: int) -> np.ndarray:
    """Audio (frames, channels) -> (channels * n, segment) float32: each channel's segments in time order,
    channel after channel, the last one zero-padded."""
    frames, channels = samples.shape
    n = -(-frames // segment)
    padded = np.zeros((n * segment, channels), np.float32)
    padded[:frames] = samples
    return np.ascontiguousarray(padded.T.reshape(channels * n, segment))


def from_segments(segments: np.ndarray, frames: int, channels: int) -> np.ndarray:
    """(channels * n, segment) samples -> (frames, channels), the padding dropped."""
    return segments.reshape(channels, -1).T[:frames]
