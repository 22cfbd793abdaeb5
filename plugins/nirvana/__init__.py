"""Built-in plugin: the `nirvana` video codec (patch-wise networks per group of frames, each initialised from the
previous group's) and `rcodec bench video`. Kept light: torch and the codec load inside the hooks."""

import rcodec


@rcodec.hookimpl
def rcodec_register_codecs(register) -> None:
    from .codec import NirvanaCodec

    register(NirvanaCodec)
