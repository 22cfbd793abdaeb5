"""Latent entropy models: probability models for a codec's latent tensor, given its hyperprior.

- `ChannelContext` (`context.py`): the float, trainable channel-and-spatial context model (uneven channel groups in
  a chosen order, two checkerboard passes per group).
- `IntegerChannelContext` (`integer.py`): its exact integer twin, which codes a latent through a symbol sink and
  reads it back from a symbol source; the same tables on every machine and thread count.
- `gaussian`: the Gaussian scale-ladder tables and the integer rule that picks one for a fixed-point scale.

See entropy/README.md for how a codec uses them.
"""

from .context import DEFAULT_GROUPS, ChannelContext, anchor_mask, gaussian_bits
from .gaussian import gaussian_tables, scale_indexes, scale_thresholds
from .integer import IntegerChannelContext

__all__ = ["DEFAULT_GROUPS", "ChannelContext", "IntegerChannelContext", "anchor_mask", "gaussian_bits",
           "gaussian_tables", "scale_indexes", "scale_thresholds"]
