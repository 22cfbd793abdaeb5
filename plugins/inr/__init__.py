"""Implicit neural representation codecs (COIN-style fitting) for images and audio. Kept light: numpy, torch and
the codec load inside the hooks."""

import rcodec


@rcodec.hookimpl
def rcodec_register_codecs(register) -> None:
    from .codec import InrCodec

    register(InrCodec)
