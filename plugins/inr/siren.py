"""A batch of small SIRENs (sine-activated MLPs) evaluated side by side: one per image, or one per audio segment.

Weights are stacked along a leading "network" axis so that every segment of a clip is fitted in the same matmuls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Architecture:
    networks: int  # how many independent networks (audio segments; 1 for an image)
    in_dim: int
    width: int
    depth: int  # hidden layers
    out_dim: int
    omega_first: float
    omega_hidden: float = 30.0

    def layer_shapes(self) -> list[tuple[int, int]]:
        dims = [self.in_dim] + [self.width] * self.depth + [self.out_dim]
        return list(zip(dims[:-1], dims[1:]))

    def parameter_count(self) -> int:
        return self.networks * sum(i * o + o for i, o in self.layer_shapes())


def width_for_budget(params_per_network: float, in_dim: int, depth: int, out_dim: int) -> int:
    """The widest network with `depth` hidden layers holding at most this many parameters (at least 4 wide)."""
    # (depth - 1) w^2 + (in + depth + out) w + out <= P, solved for w.
    a, b, c = depth - 1, in_dim + depth + out_dim, out_dim - params_per_network
    w = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a) if a > 0 else -c / b
    return max(4, int(w))


def init_weights(arch: Architecture, seed: int) -> list:
    """SIREN initialisation (Sitzmann et al. 2020): uniform, scaled so sine activations stay well distributed."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    params = []
    for layer, (fan_in, fan_out) in enumerate(arch.layer_shapes()):
        bound = 1.0 / fan_in if layer == 0 else math.sqrt(6.0 / fan_in) / arch.omega_hidden
        w = (torch.rand(arch.networks, fan_in, fan_out, generator=gen) * 2 - 1) * bound
        b = (torch.rand(arch.networks, 1, fan_out, generator=gen) * 2 - 1) * bound
        params += [w.requires_grad_(), b.requires_grad_()]
    return params


def forward(arch: Architecture, params: list, coords):
    """coords (networks, n, in_dim) -> values (networks, n, out_dim)."""
    import torch

    h = coords
    layers = len(params) // 2
    for i in range(layers):
        h = torch.baddbmm(params[2 * i + 1], h, params[2 * i])
        if i < layers - 1:
            h = torch.sin((arch.omega_first if i == 0 else arch.omega_hidden) * h)
    return h


def grid_coords(shape: tuple[int, ...]) -> np.ndarray:
    """Coordinates in [-1, 1] of every point of a grid of this shape, C order: (prod(shape), len(shape))."""
    axes = [np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1) for n in shape]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)
