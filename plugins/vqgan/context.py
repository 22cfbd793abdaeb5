"""The masked context model over the index grid: the learned index prior and the restorer of lost indices.

One small convolutional network per ladder rung looks at the grid with some positions unknown (token K) and
predicts a distribution over the K codewords at every position. The same network serves two jobs:

- **Prior** (`prior="context"`): the grid is coded in five groups of positions (`coding_groups`). Group 0, every
  fourth row and column, uses the rung's categorical prior; each later group is predicted from all earlier ones.
  At coding time the network runs in fixed point (`IntegerContext`): integer weights, integer activations, float64
  sums of integers (exact below 2**53, whatever the summation order) and an integer exp table, so encoder and
  decoder compute the same frequencies on every machine and thread count.
- **Restoration**: a lost position becomes the expected codeword under the prediction from the known positions.

Training (`train_context`) mixes the two kinds of masks: coding groups, and random losses of 5-50% of the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DILATIONS = (1, 2, 4, 1)  # 3x3 convolutions; the receptive field spans 17 x 17 grid positions
EMBED, WIDTH = 32, 64
WEIGHT_BITS = 12  # weights in units of 2**-12, |weight| < 8
ACT_BITS = 10  # embeddings, activations and logits in units of 2**-10
ACT_LIMIT = float(1 << 24)  # |activation| < 2**14: a 3x3x64 sum of products stays below 2**49
WEIGHT_LIMIT = float((1 << 15) - 1)
LUT_STEP_BITS = 4  # logits are compared in steps of 1/16 nat
LUT_SIZE = 256  # e^-16 and below get the minimum frequency
WEIGHT_SCALE_BITS = 20  # the exp table holds round(2**20 * exp(-j / 16))
GROUPS = 5


def coding_groups(height: int, width: int) -> np.ndarray:
    """Group (0..4) of every grid position: the order in which the context prior codes them."""
    r = np.arange(height)[:, None] % 4
    c = np.arange(width)[None, :] % 4
    groups = np.full((height, width), 4, np.int8)  # row + column odd: the last half, with four known neighbours
    groups[(r % 2 == 1) & (c % 2 == 1)] = 3
    groups[((r == 0) & (c == 2)) | ((r == 2) & (c == 0))] = 2
    groups[(r == 2) & (c == 2)] = 1
    groups[(r == 0) & (c == 0)] = 0
    return groups


class ContextNet(nn.Module):
    """Float network (training): tokens (B, h, w) in 0..K, K meaning unknown -> logits (B, K, h, w)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k
        self.embed = nn.Embedding(k + 1, EMBED)
        layers: list[nn.Module] = []
        channels = EMBED
        for d in DILATIONS:
            layers += [nn.Conv2d(channels, WIDTH, 3, padding=d, dilation=d), nn.ReLU()]
            channels = WIDTH
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Conv2d(WIDTH, k, 1)

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.trunk(self.embed(tokens).permute(0, 3, 1, 2))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(tokens))


def exp_table() -> np.ndarray:
    """round(2**20 * exp(-j / 16)) for j = 0..255 (computed at export and shipped, so no libm decides it)."""
    return np.round((1 << WEIGHT_SCALE_BITS) * np.exp(-np.arange(LUT_SIZE) / (1 << LUT_STEP_BITS))).astype(np.int64)


def _to_int(t: torch.Tensor, bits: int, limit: float) -> torch.Tensor:
    return torch.clamp(torch.round(t.detach().double() * (1 << bits)), -limit, limit)


@dataclass
class IntegerContext:
    """The fixed-point form of a ContextNet; every tensor holds integers (float64 for the convolutions)."""

    k: int
    embed: torch.Tensor  # (K + 1, EMBED), units 2**-ACT_BITS
    weights: list[torch.Tensor]  # conv weights, units 2**-WEIGHT_BITS
    biases: list[torch.Tensor]  # units 2**-(ACT_BITS + WEIGHT_BITS)
    head_weight: torch.Tensor  # (K, WIDTH)
    head_bias: torch.Tensor  # (K,)
    lut: np.ndarray  # int64 exp table

    @classmethod
    def from_float(cls, net: ContextNet, lut: np.ndarray) -> IntegerContext:
        convs = [m for m in net.trunk if isinstance(m, nn.Conv2d)]
        big = float(1 << 45)
        return cls(net.k, _to_int(net.embed.weight, ACT_BITS, ACT_LIMIT),
                   [_to_int(c.weight, WEIGHT_BITS, WEIGHT_LIMIT) for c in convs],
                   [_to_int(c.bias, ACT_BITS + WEIGHT_BITS, big) for c in convs],
                   _to_int(net.head.weight[:, :, 0, 0], WEIGHT_BITS, WEIGHT_LIMIT),
                   _to_int(net.head.bias, ACT_BITS + WEIGHT_BITS, big), lut.astype(np.int64))

    def to_state(self) -> dict:
        return {"k": self.k, "embed": self.embed.to(torch.int32), "weights": [w.to(torch.int16) for w in self.weights],
                "biases": [b.to(torch.int64) for b in self.biases], "head_weight": self.head_weight.to(torch.int16),
                "head_bias": self.head_bias.to(torch.int64), "lut": torch.from_numpy(self.lut)}

    @classmethod
    def from_state(cls, state: dict) -> IntegerContext:
        return cls(int(state["k"]), state["embed"].double(), [w.double() for w in state["weights"]],
                   [b.double() for b in state["biases"]], state["head_weight"].double(),
                   state["head_bias"].double(), state["lut"].numpy().astype(np.int64))

    def features(self, tokens: np.ndarray) -> torch.Tensor:
        """tokens (h, w) int64 in 0..K -> integer features (WIDTH, h, w), units 2**-ACT_BITS."""
        x = self.embed[torch.from_numpy(tokens)].permute(2, 0, 1)[None]
        for weight, bias, d in zip(self.weights, self.biases, DILATIONS):
            x = F.conv2d(x, weight, padding=d, dilation=d) + bias[None, :, None, None]
            x = torch.clamp(torch.floor(x / (1 << WEIGHT_BITS)), 0.0, ACT_LIMIT)  # ReLU, back to activation units
        return x[0]

    def logits(self, features: torch.Tensor, positions: np.ndarray) -> np.ndarray:
        """Integer logits (P, K), units 2**-ACT_BITS, at flat grid positions."""
        picked = features.reshape(features.shape[0], -1)[:, torch.from_numpy(positions)]
        out = self.head_weight @ picked + self.head_bias[:, None]
        return torch.floor(out / (1 << WEIGHT_BITS)).t().numpy().astype(np.int64)

    def frequencies(self, logits: np.ndarray, precision: int = 16) -> np.ndarray:
        """Integer frequencies (P, K), each >= 1 and summing to 2**precision, from integer logits: integer only."""
        steps = (logits.max(axis=1, keepdims=True) - logits) >> (ACT_BITS - LUT_STEP_BITS)
        weight = self.lut[np.minimum(steps, LUT_SIZE - 1)]
        total = weight.sum(axis=1, keepdims=True)  # >= 2**20: the most likely symbol has step 0
        freq = 1 + weight * ((1 << precision) - self.k) // total
        deficit = (1 << precision) - freq.sum(axis=1)
        top = np.argmax(freq, axis=1)
        freq[np.arange(len(freq)), top] += deficit
        return freq

    def probabilities(self, logits: np.ndarray) -> torch.Tensor:
        """Float probabilities (P, K) for restoration (not used for coding)."""
        return torch.softmax(torch.from_numpy(logits).float() / (1 << ACT_BITS), dim=1)


def restore_lost(ctx: IntegerContext, indices: np.ndarray, lost: np.ndarray, book: torch.Tensor) -> torch.Tensor:
    """Quantized latent (1, D, h, w) with each lost position replaced by its expected codeword given the rest."""
    tokens = np.where(lost, ctx.k, indices).astype(np.int64)
    zq = book[torch.from_numpy(indices.astype(np.int64))]  # (h, w, D)
    positions = np.flatnonzero(lost)
    if len(positions):
        probs = ctx.probabilities(ctx.logits(ctx.features(tokens), positions))
        flat = zq.reshape(-1, zq.shape[-1]).clone()
        flat[torch.from_numpy(positions)] = probs @ book
        zq = flat.reshape(zq.shape)
    return zq.permute(2, 0, 1)[None].contiguous()


def training_masks(groups: np.ndarray, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(known, target) boolean masks (B, h, w): half coding steps (earlier groups known, one group the target),
    half random losses of 5-50% of the positions (the rest known)."""
    h, w = groups.shape
    known = np.zeros((batch, h, w), bool)
    target = np.zeros((batch, h, w), bool)
    for b in range(batch):
        if rng.random() < 0.5:
            g = rng.integers(1, GROUPS)
            known[b], target[b] = groups < g, groups == g
        else:
            target[b] = rng.random((h, w)) < rng.uniform(0.05, 0.5)
            known[b] = ~target[b]
    return known, target


def train_context(grids: np.ndarray, k: int, steps: int, batch: int = 16, lr: float = 2e-3, seed: int = 0,
                  log=print) -> ContextNet:
    """Fit a ContextNet to index grids (N, h, w) of one rung by cross-entropy on the masked targets."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    net = ContextNet(k)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    groups = coding_groups(*grids.shape[1:])
    all_grids = torch.from_numpy(grids.astype(np.int64))
    for step in range(steps):
        for group in opt.param_groups:  # cosine decay to a tenth
            group["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * step / steps)))
        pick = torch.from_numpy(rng.integers(len(grids), size=batch))
        idx = all_grids[pick]
        known, target = (torch.from_numpy(m) for m in training_masks(groups, batch, rng))
        tokens = torch.where(known, idx, torch.full_like(idx, k))
        logits = net(tokens).permute(0, 2, 3, 1)[target]
        loss = F.cross_entropy(logits, idx[target])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0:
            log(f"K={k} step {step + 1}/{steps}: {loss.item() / np.log(2):.3f} bits per target index")
    return net


def _group_tables(ctx: IntegerContext, tokens: np.ndarray, positions: np.ndarray):
    from rcodec.entropy import CdfTables

    freq = ctx.frequencies(ctx.logits(ctx.features(tokens), positions))
    return CdfTables.from_frequencies(freq), np.arange(len(positions), dtype=np.int32)


def _code_grid(ctx: IntegerContext, shape: tuple[int, int], categorical, code) -> np.ndarray:
    """Visit the coding groups of a grid in order. `code(positions, tables, rows)` writes or reads the indexes at
    the group's flat `positions` -- with `categorical` and rows None for group 0, with the context model's tables
    of what is coded so far for the others -- and returns them. Returns the grid."""
    groups = coding_groups(*shape).ravel()
    tokens = np.full(groups.shape, ctx.k, np.int64)
    for g in range(GROUPS):
        positions = np.flatnonzero(groups == g)
        if len(positions):
            tables, rows = (categorical, None) if g == 0 else _group_tables(ctx, tokens.reshape(shape), positions)
            tokens[positions] = code(positions, tables, rows)
    return tokens.reshape(shape)


def write_grid(sink, ctx: IntegerContext, indices: np.ndarray, categorical) -> None:
    """Code an index grid (h, w) group by group: group 0 with `categorical`, the others with the context model."""
    flat = indices.ravel().astype(np.int64)

    def write(positions: np.ndarray, tables, rows) -> np.ndarray:
        sink.write(flat[positions], tables, rows)
        return flat[positions]

    _code_grid(ctx, indices.shape, categorical, write)


def read_grid(source, ctx: IntegerContext, shape: tuple[int, int], categorical) -> np.ndarray:
    """The inverse of `write_grid`; raises ValueError on an index outside the rung."""

    def read(positions: np.ndarray, tables, rows) -> np.ndarray:
        values = source.read(tables, rows, count=len(positions) if rows is None else None)
        if values.min() < 0 or values.max() >= ctx.k:
            raise ValueError("decoded index out of range")
        return values

    return _code_grid(ctx, shape, categorical, read)
