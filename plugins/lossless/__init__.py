"""Built-in plugin: the `lossless` codec for images and PCM audio."""

import rcodec


@rcodec.hookimpl
def rcodec_register_codecs(register) -> None:
    from .codec import LosslessCodec

    register(LosslessCodec)
