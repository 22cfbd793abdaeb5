"""Built-in entropy-coder backends: native interleaved rANS (`rans`, the default when built) and constriction's
ANS stack (`ans`) and range coder (`range`)."""

from __future__ import annotations

import rcodec


@rcodec.hookimpl
def rcodec_register_entropy_coders(register) -> None:
    from rcodec.entropy.constriction_coders import AnsCoder, RangeCoder

    register(AnsCoder())
    register(RangeCoder())
    try:
        from rcodec.entropy.rans import RansCoder
    except ImportError:  # the native extension was not built
        return
    register(RansCoder())
