"""The patch-wise network of one group of frames, and how its output becomes RGB frames.

A group of G frames is cut into P x P patches. The network maps a patch's learned latent vector (one per patch
position, shared by the group's frames) and Fourier features of the patch position and frame (x, y, t) to the
whole patch in YCbCr 4:2:0 (P*P luma values, then two (P/2)^2 chroma blocks). Assembled frames get their chroma
upsampled bilinearly and are converted to RGB. A coordinate-only network (NIRVANA's original input) measured
6-7 dB worse on carphone at the same parameter count: the latents give each patch its own code cheaply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# BT.601 full range, as JPEG: the conversion the decoder applies to the network's output.
_RGB_TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.168735892, -0.331264108, 0.5], [0.5, -0.418687589, -0.081312411]])
_YCC_TO_RGB = np.linalg.inv(_RGB_TO_YCC)


@dataclass(frozen=True)
class Layout:
    """Where the patches of one group lie: frame size (padded to whole patches), patch size, frames per group."""

    height: int
    width: int
    patch: int
    frames: int

    @property
    def rows(self) -> int:
        return -(-self.height // self.patch)

    @property
    def cols(self) -> int:
        return -(-self.width // self.patch)

    @property
    def outputs(self) -> int:
        return self.patch * self.patch * 3 // 2

    def features(self) -> np.ndarray:
        """(frames * rows * cols, F) float64 Fourier features, in (t, row, col) order."""
        t, r, c = np.meshgrid(np.arange(self.frames), np.arange(self.rows), np.arange(self.cols), indexing="ij")
        coords = [(c + 0.5) / self.cols * 2 - 1, (r + 0.5) / self.rows * 2 - 1, (t + 0.5) / self.frames * 2 - 1]
        bands = [_bands(self.cols), _bands(self.rows), _bands(self.frames)]
        out = []
        for x, n in zip(coords, bands):
            x = x.reshape(-1, 1).astype(np.float64)
            freqs = math.pi * 2.0 ** np.arange(n)
            out += [x, np.sin(x * freqs), np.cos(x * freqs)]
        return np.concatenate(out, axis=1)

    @property
    def feature_count(self) -> int:
        return sum(1 + 2 * _bands(n) for n in (self.cols, self.rows, self.frames))


def _bands(positions: int) -> int:
    """Octaves up to the grid's Nyquist rate: a 22-patch axis gets 5 (periods 2 .. 32 patches)."""
    return max(1, math.ceil(math.log2(max(positions, 2))))


def layer_shapes(features: int, width: int, depth: int, outputs: int) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of each linear layer: `depth` hidden layers of `width` units."""
    dims = [features] + [width] * depth + [outputs]
    return list(zip(dims[:-1], dims[1:]))


def param_shapes(features: int, width: int, depth: int, outputs: int) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    for fan_in, fan_out in layer_shapes(features, width, depth, outputs):
        shapes += [(fan_in, fan_out), (fan_out,)]
    return shapes


def forward(params: list, x):
    """The MLP: GELU between layers, none after the last. Works on torch tensors of any float dtype."""
    import torch

    layers = len(params) // 2
    for i in range(layers):
        x = x @ params[2 * i] + params[2 * i + 1]
        if i < layers - 1:
            x = torch.nn.functional.gelu(x)
    return x


def network_input(latents, features, index=None):
    """(patches, C) latents and (frames * patches, F) features -> (frames * patches, C + F) network input, or only
    the rows `index` of it."""
    import torch

    if index is None:
        index = torch.arange(features.shape[0])
    return torch.cat([latents[index % latents.shape[0]], features[index]], dim=1)


# Per-output weights of the fitting loss: squared RGB error of a YCbCr error (the diagonal of M^T M for the
# inverse colour matrix), chroma counted four times for the four pixels each 4:2:0 sample covers.
_RGB_WEIGHT = np.sum(_YCC_TO_RGB**2, axis=0)


def output_weights(patch: int) -> np.ndarray:
    luma, chroma = patch * patch, (patch // 2) ** 2
    w = np.concatenate([np.full(luma, _RGB_WEIGHT[0]), np.full(chroma, 4 * _RGB_WEIGHT[1]),
                        np.full(chroma, 4 * _RGB_WEIGHT[2])])
    return w / (3 * luma)  # so that the weighted sum per patch approximates the RGB MSE summed over its pixels


def to_patches(frames: np.ndarray, layout: Layout) -> np.ndarray:
    """RGB frames (g, H, W, 3) in [0, 1] -> the network's target (g * rows * cols, outputs): YCbCr 4:2:0 patches,
    frames padded to whole patches by repeating the edge."""
    p, h = layout.patch, layout.patch // 2
    g, rows, cols = frames.shape[0], layout.rows, layout.cols
    pad = ((0, 0), (0, rows * p - frames.shape[1]), (0, cols * p - frames.shape[2]), (0, 0))
    x = np.pad(frames.astype(np.float64), pad, mode="edge")
    ycc = x @ _RGB_TO_YCC.T + np.array([0.0, 0.5, 0.5])
    luma = ycc[..., 0].reshape(g, rows, p, cols, p).transpose(0, 1, 3, 2, 4).reshape(g, rows, cols, p * p)
    chroma = ycc[..., 1:].reshape(g, rows, h, 2, cols, h, 2, 2).mean(axis=(3, 6))  # (g, rows, h, cols, h, 2)
    chroma = chroma.transpose(0, 1, 3, 5, 2, 4).reshape(g, rows, cols, 2 * h * h)
    return np.concatenate([luma, chroma], axis=-1).reshape(g * rows * cols, -1)


def to_rgb(out, layout: Layout, height: int, width: int):
    """Network output (frames * rows * cols, outputs) -> RGB frames (frames, height, width, 3) in [0, 1] units
    (not clipped). Torch in, torch out, differentiable."""
    import torch

    p, h = layout.patch, layout.patch // 2
    g, rows, cols = layout.frames, layout.rows, layout.cols
    out = out.reshape(g, rows, cols, -1)
    luma = out[..., : p * p].reshape(g, rows, cols, p, p).permute(0, 1, 3, 2, 4).reshape(g, rows * p, cols * p)
    chroma = out[..., p * p :].reshape(g, rows, cols, 2, h, h).permute(0, 3, 1, 4, 2, 5)
    chroma = chroma.reshape(g, 2, rows * h, cols * h)
    chroma = torch.nn.functional.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False)
    ycc = torch.cat([luma[:, None], chroma], dim=1)[:, :, :height, :width]  # (g, 3, H, W)
    matrix = torch.as_tensor(_YCC_TO_RGB, dtype=out.dtype)
    rgb = torch.einsum("ij,gjhw->ghwi", matrix, ycc - torch.as_tensor([0.0, 0.5, 0.5], dtype=out.dtype)[:, None, None])
    return rgb
