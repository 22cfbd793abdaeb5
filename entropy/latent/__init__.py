"""Latent entropy models: probability models for a codec's latent tensor, given its hyperprior.

`ChannelContext` is the float (trainable) channel-and-spatial context model; see `context.py`.
"""

from .context import DEFAULT_GROUPS, ChannelContext, anchor_mask, gaussian_bits

__all__ = ["DEFAULT_GROUPS", "ChannelContext", "anchor_mask", "gaussian_bits"]
