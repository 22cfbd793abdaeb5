"""`IntegerChannelContext`: the exact integer twin of a trained `ChannelContext`, which codes a latent tensor.

Interface (what a codec with a latent y and a mean-scale hyperprior uses):

- `IntegerChannelContext.from_float(context, tables, thresholds)`: from a trained `ChannelContext`, the Gaussian
  scale-ladder tables (`CdfTables`, shipped as integers) and their integer thresholds (`gaussian.scale_thresholds`).
- `to_state()` / `from_state(state, tables, thresholds)`: the integer weights for a weights file (small: int16
  weights). `from_state` checks shapes and ranges and raises ValueError on a malformed state.
- `encode(y, hyper_fixed, sink, stream=0)` -> y_hat: codes float y (1, M, h, w) and returns the decoded latent.
- `decode(hyper_fixed, source, stream=0)` -> y_hat: reads it back, identical to what the encoder returned.

`hyper_fixed` is the hyperprior's output in fixed point: (1, 2M, h, w) integer-valued (any float or int dtype),
units of 2**-12, the M scales then the M means, computed exactly (e.g. the hyperprior's fixed-point synthesis).

Coding order: group by group (in the context's channel order), each in two passes (anchors, then non-anchors);
each pass is one `sink.write` / `source.read` of its symbols (channel-major, positions in row-major order). Every
mean and table index comes from exact fixed-point convolutions (`fixed.py`) of integers: the decoder picks the same
tables on every machine and thread count. symbol = round(y - mean), y_hat = symbol + mean (mean a multiple of
2**-12).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rcodec.entropy import CdfTables

from .context import ChannelContext, anchor_mask
from .fixed import ACT_BITS, ACT_LIMIT, WEIGHT_BITS, FixedConv, layer
from .gaussian import scale_indexes

STATE_FORMAT = 1
_NETS = ("hyper_in", "prev_in", "a_mid", "a_out", "spatial", "n_in", "n_mid", "n_out")


@dataclass
class _FixedGroup:
    channels: int
    hyper_in: FixedConv
    prev_in: FixedConv | None
    a_mid: FixedConv
    a_out: FixedConv
    spatial: FixedConv
    n_in: FixedConv
    n_mid: FixedConv
    n_out: FixedConv


class IntegerChannelContext:
    """Integer-exact channel-and-spatial context coder (see the module docstring for the interface)."""

    def __init__(self, order: list[int], groups: list[int], nets: list[_FixedGroup], tables: CdfTables,
                 thresholds: Tensor) -> None:
        self.channels = len(order)
        self.order = [int(c) for c in order]
        self.groups = [int(g) for g in groups]
        if sorted(self.order) != list(range(self.channels)) or sum(self.groups) != self.channels \
                or len(nets) != len(self.groups) or min(self.groups) < 1:
            raise ValueError("inconsistent channel order, groups and networks")
        self.nets = nets
        self.tables = tables
        self.thresholds = torch.as_tensor(thresholds).to(torch.int64)
        if self.thresholds.numel() != tables.count:
            raise ValueError(f"{self.thresholds.numel()} scale thresholds for {tables.count} tables")
        self._check_shapes()
        self._float: ChannelContext | None = None

    @classmethod
    def from_float(cls, context: ChannelContext, tables: CdfTables, thresholds) -> IntegerChannelContext:
        nets = []
        for net in context.nets:
            convs = {name: None if getattr(net, name) is None else FixedConv.from_float(getattr(net, name))
                     for name in _NETS}
            nets.append(_FixedGroup(net.channels, **convs))
        return cls(context.order.tolist(), list(context.groups), nets, tables, thresholds)

    def to_float(self) -> ChannelContext:
        """A float `ChannelContext` with these integer weights (in real units): for encoder-side search (e.g.
        latent refinement against this model's rate). Its means and scales match the integer ones up to rounding."""
        context = ChannelContext(self.channels, self.order, self.groups)
        with torch.no_grad():
            for net, fixed in zip(context.nets, self.nets):
                for name in _NETS:
                    conv, source = getattr(net, name), getattr(fixed, name)
                    if conv is None:
                        continue
                    conv.weight.copy_(source.weight / (1 << WEIGHT_BITS))
                    if conv.bias is not None:
                        conv.bias.copy_(source.bias / (1 << (WEIGHT_BITS + ACT_BITS)))
        return context.eval().requires_grad_(False)

    def float_model(self) -> ChannelContext:
        """`to_float()`, built once and kept."""
        if self._float is None:
            self._float = self.to_float()
        return self._float

    def to_state(self) -> dict:
        return {"format": STATE_FORMAT, "order": torch.tensor(self.order, dtype=torch.int64),
                "groups": list(self.groups),
                "nets": [{name: None if getattr(net, name) is None else getattr(net, name).to_state()
                          for name in _NETS} for net in self.nets]}

    @classmethod
    def from_state(cls, state: dict, tables: CdfTables, thresholds) -> IntegerChannelContext:
        try:
            if state["format"] != STATE_FORMAT:
                raise ValueError(f"context state format {state['format']} (this rcodec reads {STATE_FORMAT})")
            groups = [int(g) for g in state["groups"]]
            nets = []
            for g, net in zip(groups, state["nets"]):
                convs = {name: None if net[name] is None else FixedConv.from_state(net[name]) for name in _NETS}
                nets.append(_FixedGroup(g, **convs))
            return cls(state["order"].tolist(), groups, nets, tables, thresholds)
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            raise ValueError(f"not a context model state ({exc!r})") from None

    def _check_shapes(self) -> None:
        start = 0
        for k, (g, net) in enumerate(zip(self.groups, self.nets)):
            hidden = net.a_mid.weight.shape[0]
            spatial = net.spatial.weight.shape[0]
            expected = {
                "hyper_in": (hidden, 2 * self.channels), "a_mid": (hidden, hidden), "a_out": (2 * g, hidden),
                "spatial": (spatial, g), "n_in": (hidden, hidden + spatial), "n_mid": (hidden, hidden),
                "n_out": (2 * g, hidden),
            }
            if start:
                expected["prev_in"] = (hidden, start)
            elif net.prev_in is not None:
                raise ValueError("the first group has a channel-context input")
            for name, shape in expected.items():
                conv = getattr(net, name)
                if conv is None or tuple(conv.weight.shape[:2]) != shape:
                    raise ValueError(f"context network {name} of group {k} has the wrong shape")
            start += g

    # -- coding -------------------------------------------------------------------------------------------------

    def encode(self, y: Tensor, hyper_fixed: Tensor, sink, stream: int = 0) -> Tensor:
        """Write the symbols of y (1, M, h, w) to `sink`; returns y_hat (1, M, h, w) float32, as decoded."""
        y = y.detach().double()

        def code(channels: np.ndarray, positions: np.ndarray, means: Tensor, indexes: Tensor) -> Tensor:
            values = y[0, channels].reshape(len(channels), -1)[:, positions]
            symbols = torch.round(values - means / (1 << ACT_BITS))
            sink.write(symbols.to(torch.int32).numpy().ravel(), self.tables, indexes.numpy().ravel(), stream=stream)
            return symbols

        return self._run(hyper_fixed, code, tuple(y.shape))

    def decode(self, hyper_fixed: Tensor, source, stream: int = 0) -> Tensor:
        """Read back the latent the encoder wrote: y_hat (1, M, h, w) float32."""

        def code(channels: np.ndarray, positions: np.ndarray, means: Tensor, indexes: Tensor) -> Tensor:
            values = source.read(self.tables, indexes.numpy().ravel(), stream=stream)
            return torch.from_numpy(values.astype(np.float64)).view(len(channels), len(positions))

        return self._run(hyper_fixed, code, None)

    def _run(self, hyper_fixed: Tensor, code, y_shape) -> Tensor:
        m = self.channels
        if hyper_fixed.dim() != 4 or hyper_fixed.shape[0] != 1 or hyper_fixed.shape[1] != 2 * m:
            raise ValueError(f"hyperprior output of shape {tuple(hyper_fixed.shape)}; expected (1, {2 * m}, h, w)")
        _, _, h, w = hyper_fixed.shape
        if y_shape is not None and tuple(y_shape) != (1, m, h, w):
            raise ValueError(f"latent of shape {tuple(y_shape)} for a hyperprior output of {(1, 2 * m, h, w)}")
        with torch.no_grad():
            hyper = torch.clamp(hyper_fixed.double(), -ACT_LIMIT, ACT_LIMIT)
            mask = anchor_mask(h, w).double()
            flat = mask.flatten().bool().numpy()
            anchors, others = np.flatnonzero(flat), np.flatnonzero(~flat)
            y_hat = torch.zeros(1, m, h, w, dtype=torch.float64)
            decoded: list[Tensor] = []
            start = 0
            for g, net in zip(self.groups, self.nets):
                channels = np.array(self.order[start : start + g])
                base_scale, base_mean = hyper[:, channels], hyper[:, m + channels]
                terms = [(net.hyper_in, hyper)]
                if net.prev_in is not None:
                    terms.append((net.prev_in, torch.cat(decoded, 1)))
                a2 = layer([(net.a_mid, layer(terms, "leaky"))], "leaky")
                a_out = layer([(net.a_out, a2)])
                group_hat = self._pass(code, channels, anchors, base_scale + a_out[:, :g], base_mean + a_out[:, g:],
                                       torch.zeros(1, g, h, w, dtype=torch.float64))
                spatial = layer([(net.spatial, torch.clamp(group_hat, -ACT_LIMIT, ACT_LIMIT))])
                n1 = layer([(net.n_in, torch.cat([a2, spatial], 1))], "leaky")
                n_out = layer([(net.n_out, layer([(net.n_mid, n1)], "leaky"))])
                group_hat = self._pass(code, channels, others, base_scale + n_out[:, :g], base_mean + n_out[:, g:],
                                       group_hat)
                decoded.append(torch.clamp(group_hat, -ACT_LIMIT, ACT_LIMIT))
                y_hat[:, channels] = group_hat
                start += g
            return (y_hat / (1 << ACT_BITS)).float()

    def _pass(self, code, channels: np.ndarray, positions: np.ndarray, scales: Tensor, means: Tensor,
              group_hat: Tensor) -> Tensor:
        """Code the symbols of `channels` at `positions` (flat row-major); returns group_hat (fixed point, units of
        2**-12) with those positions filled in."""
        g, (h, w) = len(channels), scales.shape[2:]
        pass_means = means.reshape(g, -1)[:, positions]
        indexes = scale_indexes(scales.reshape(g, -1)[:, positions], self.thresholds)
        symbols = code(channels, positions, pass_means, indexes)
        flat = group_hat.reshape(g, h * w).clone()
        flat[:, positions] = symbols * (1 << ACT_BITS) + pass_means
        return flat.view(1, g, h, w)
