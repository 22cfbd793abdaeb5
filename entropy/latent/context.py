"""Channel-and-spatial context model for a latent tensor with a mean-scale hyperprior (ELIC style, He et al. 2022).

The latent channels are coded in uneven groups (e.g. 8/8/16/32/64), in an order given at construction (an
importance order such as ISCS's, or the natural one). Every group is coded in two checkerboard passes:

- anchors (positions with (row + column) even): mean and scale from the hyperprior output and the groups decoded
  before (channel context);
- non-anchors: the same, plus the group's decoded anchors around them (spatial context, a 5x5 convolution over the
  anchors only, which is a checkerboard-masked convolution).

Each pass predicts a correction to the hyperprior's own (scale, mean) of the group's channels; the last layers start
at zero, so an untrained model codes exactly like the plain hyperprior. The networks use only convolutions and
LeakyReLU, so that an integer twin evaluates them exactly in fixed point (the table index of a symbol never depends
on float summation order).

Quantisation: symbol = round(y - mu), y_hat = symbol + mu, with mu the context model's mean. In training the rate
sees additive uniform noise, and the context inputs are the rounded y_hat (no gradient flows into y).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

DEFAULT_GROUPS = (8, 8, 16, 32, 64)
SCALE_MIN = 0.11  # the smallest Gaussian scale of the coding tables
SPATIAL_KERNEL = 5


def anchor_mask(height: int, width: int, device=None) -> Tensor:
    """(1, 1, h, w) float mask, 1 on anchors ((row + column) even), 0 on non-anchors."""
    rows = torch.arange(height, device=device).view(-1, 1)
    cols = torch.arange(width, device=device).view(1, -1)
    return ((rows + cols) % 2 == 0).float().view(1, 1, height, width)


def _zero(conv: nn.Conv2d) -> nn.Conv2d:
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class GroupContext(nn.Module):
    """The two passes of one channel group.

    Anchor pass: a1 = act(hyper_in(hyper) + prev_in(previous groups' y_hat)); a2 = act(a_mid(a1)); anchor = a_out(a2).
    Non-anchor pass: s = spatial(anchor y_hat of this group, non-anchors zeroed); n1 = act(n_in(cat(a2, s)));
    n2 = act(n_mid(n1)); non-anchor = n_out(n2). Outputs: (scale delta, mean delta), C channels each.
    """

    def __init__(self, channels: int, previous: int, hyper_channels: int, hidden: int, spatial: int) -> None:
        super().__init__()
        self.channels, self.previous, self.hidden = channels, previous, hidden
        self.hyper_in = nn.Conv2d(hyper_channels, hidden, 1)
        self.prev_in = nn.Conv2d(previous, hidden, 3, padding=1, bias=False) if previous else None
        self.a_mid = nn.Conv2d(hidden, hidden, 1)
        self.a_out = _zero(nn.Conv2d(hidden, 2 * channels, 1))
        self.spatial = nn.Conv2d(channels, spatial, SPATIAL_KERNEL, padding=SPATIAL_KERNEL // 2)
        self.n_in = nn.Conv2d(hidden + spatial, hidden, 1)
        self.n_mid = nn.Conv2d(hidden, hidden, 1)
        self.n_out = _zero(nn.Conv2d(hidden, 2 * channels, 1))
        self.act = nn.LeakyReLU(0.01)

    def anchor(self, hyper: Tensor, previous: Tensor | None) -> tuple[Tensor, Tensor]:
        """(anchor output (B, 2C, h, w), hidden features a2 for the non-anchor pass)."""
        a1 = self.hyper_in(hyper)
        if self.prev_in is not None:
            a1 = a1 + self.prev_in(previous)
        a2 = self.act(self.a_mid(self.act(a1)))
        return self.a_out(a2), a2

    def non_anchor(self, a2: Tensor, anchors_hat: Tensor) -> Tensor:
        s = self.spatial(anchors_hat)
        n1 = self.act(self.n_in(torch.cat([a2, s], dim=1)))
        return self.n_out(self.act(self.n_mid(n1)))


def _widths(channels: int) -> tuple[int, int]:
    """(hidden, spatial) widths of a group's networks: small, since the decoder runs them in float64."""
    return max(64, 3 * channels // 2), max(32, channels)


class ChannelContext(nn.Module):
    """Float (training) context model for an (B, M, h, w) latent whose hyperprior gives (B, 2M, h, w): M scales then
    M means, in real units.

    `order`: a permutation of the M channels, coded first to last; `groups`: group sizes along that order.
    """

    def __init__(self, channels: int, order: Sequence[int] | None = None,
                 groups: Sequence[int] = DEFAULT_GROUPS) -> None:
        super().__init__()
        order = list(range(channels)) if order is None else [int(c) for c in order]
        if sorted(order) != list(range(channels)):
            raise ValueError(f"order must be a permutation of the {channels} channels")
        if sum(groups) != channels or min(groups) < 1:
            raise ValueError(f"group sizes {tuple(groups)} must be positive and add up to {channels}")
        self.channels = channels
        self.groups = tuple(int(g) for g in groups)
        self.register_buffer("order", torch.tensor(order, dtype=torch.int64))
        starts = [0]
        for g in self.groups[:-1]:
            starts.append(starts[-1] + g)
        self.starts = tuple(starts)
        self.nets = nn.ModuleList(GroupContext(g, s, 2 * channels, *_widths(g)) for g, s in zip(self.groups, starts))

    def group_channels(self, k: int) -> Tensor:
        return self.order[self.starts[k] : self.starts[k] + self.groups[k]]

    def hyper_parameters(self, hyper: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """The hyperprior's own (scales, means) of group k's channels."""
        idx = self.group_channels(k)
        return hyper[:, idx], hyper[:, self.channels + idx]

    def forward(self, y: Tensor, hyper: Tensor, noise: bool = True,
                quantize: Callable[[Tensor], Tensor] | None = None) -> dict[str, Tensor]:
        """Rate of y (before rounding) under the context model.

        `quantize`: a relaxed rounding of the centred latent (e.g. stochastic Gumbel annealing, for encoder-side
        refinement); `bits` is then the rate of the relaxed values and `y_relaxed` (relaxed values plus means) is
        returned too, both differentiable in y and in the hyperprior output. The context inputs stay hard-rounded.

        Returns `bits` (B,) (with additive noise when `noise`, else of the rounded symbols), `bits_rounded` (B,)
        (of the rounded symbols, without gradient), `y_hat` (the decoded latent), `scales` and `means` (all in
        natural channel order).
        """
        b, _, h, w = y.shape
        mask = anchor_mask(h, w, y.device)
        decoded: list[Tensor] = []
        bits, bits_rounded = y.new_zeros(b), y.new_zeros(b)
        y_hat_all = torch.empty_like(y)
        relaxed = [] if quantize is not None else None
        scales_all, means_all = torch.empty_like(y), torch.empty_like(y)
        for k, net in enumerate(self.nets):
            idx = self.group_channels(k)
            y_k = y[:, idx]
            base_scale, base_mean = self.hyper_parameters(hyper, k)
            previous = torch.cat(decoded, dim=1) if decoded else None
            a_out, a2 = net.anchor(hyper, previous)
            a_scale, a_mean = base_scale + a_out[:, : len(idx)], base_mean + a_out[:, len(idx) :]
            anchors_hat = ((torch.round(y_k - a_mean) + a_mean) * mask).detach()
            n_out = net.non_anchor(a2, anchors_hat)
            n_scale, n_mean = base_scale + n_out[:, : len(idx)], base_mean + n_out[:, len(idx) :]
            scale = a_scale * mask + n_scale * (1 - mask)
            mean = a_mean * mask + n_mean * (1 - mask)
            y_hat_k = (torch.round(y_k - mean) + mean).detach()
            decoded.append(y_hat_k)
            y_hat_all[:, idx] = y_hat_k
            scales_all[:, idx], means_all[:, idx] = scale, mean
            with torch.no_grad():
                bits_rounded = bits_rounded + gaussian_bits(torch.round(y_k - mean), scale).flatten(1).sum(1)
            if quantize is not None:
                centred = quantize(y_k - mean)
                bits = bits + gaussian_bits(centred, scale).flatten(1).sum(1)
                relaxed.append((idx, centred + mean))
            elif noise:
                noisy = y_k - mean + torch.empty_like(y_k).uniform_(-0.5, 0.5)
                bits = bits + gaussian_bits(noisy, scale).flatten(1).sum(1)
        out = {"bits": bits if noise or quantize is not None else bits_rounded, "bits_rounded": bits_rounded,
               "y_hat": y_hat_all, "scales": scales_all, "means": means_all}
        if relaxed is not None:
            inverse = torch.argsort(torch.cat([idx for idx, _ in relaxed]))
            out["y_relaxed"] = torch.cat([v for _, v in relaxed], 1)[:, inverse]
        return out


def gaussian_bits(centred: Tensor, scale: Tensor) -> Tensor:
    """-log2 of the probability of the unit interval around `centred` under N(0, max(scale, SCALE_MIN))."""
    scale = scale.clamp_min(SCALE_MIN)
    upper = _ndtr((0.5 - centred.abs()) / scale)
    lower = _ndtr((-0.5 - centred.abs()) / scale)  # symmetric form: accurate in the tails
    return -torch.log2((upper - lower).clamp_min(1e-9))


def _ndtr(x: Tensor) -> Tensor:
    return 0.5 * torch.erfc(-x / math.sqrt(2.0))
