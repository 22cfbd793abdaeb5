"""A faster, equivalent form of the synthesis transform for coding on a CPU.

PyTorch's CPU transposed convolution is slow at these sizes. A stride-2 transposed convolution with a 5x5 kernel is
the same linear map as a 3x3 convolution producing the four output phases as channels, followed by a pixel shuffle
(sub-pixel convolution); in channels-last layout that runs about twice as fast. The result differs from the
training-time form only in float rounding. Encoder and decoder both use this form, so the encoder's output hash
describes what every decoder computes.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# For output phase r (even/odd row or column), the 5-tap kernel indexes that meet input offsets -1, 0, +1.
_PHASE_TAPS = {0: (4, 2, 0), 1: (None, 3, 1)}


class SubPixelConv(nn.Module):
    """ConvTranspose2d(kernel 5, stride 2, padding 2, output_padding 1) as conv 3x3 + pixel shuffle."""

    def __init__(self, deconv: nn.ConvTranspose2d) -> None:
        super().__init__()
        weight = deconv.weight.detach()  # (in, out, 5, 5)
        c_in, c_out = weight.shape[:2]
        phases = torch.zeros(c_out, 2, 2, c_in, 3, 3, dtype=weight.dtype)
        for ry, taps_y in _PHASE_TAPS.items():
            for rx, taps_x in _PHASE_TAPS.items():
                for jy, ky in enumerate(taps_y):
                    for jx, kx in enumerate(taps_x):
                        if ky is not None and kx is not None:
                            phases[:, ry, rx, :, jy, jx] = weight[:, :, ky, kx].t()
        kernel = phases.reshape(c_out * 4, c_in, 3, 3).contiguous(memory_format=torch.channels_last)
        self.register_buffer("kernel", kernel)
        bias = deconv.bias.detach() if deconv.bias is not None else torch.zeros(c_out, dtype=weight.dtype)
        self.register_buffer("bias", bias.repeat_interleave(4))

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(F.conv2d(x, self.kernel, self.bias, padding=1), 2)


def _convertible(module: nn.Module) -> bool:
    return (isinstance(module, nn.ConvTranspose2d) and module.kernel_size == (5, 5) and module.stride == (2, 2)
            and module.padding == (2, 2) and module.output_padding == (1, 1) and module.groups == 1
            and module.dilation == (1, 1))


class ChannelsLast(nn.Module):
    """Runs the wrapped transform on channels-last input (oneDNN's fast layout), returns the usual layout."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> Tensor:
        return self.inner(x.contiguous(memory_format=torch.channels_last)).contiguous()


def fast_synthesis(g_s: nn.Module) -> nn.Module:
    """A copy of `g_s` with every convertible transposed convolution replaced by its sub-pixel form."""
    fast = copy.deepcopy(g_s)
    for module in list(fast.modules()):
        for child_name, child in list(module.named_children()):
            if _convertible(child):
                setattr(module, child_name, SubPixelConv(child))
    fast.eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    return ChannelsLast(fast)
