"""Built-in plugin: the `lossless` codec for images and PCM audio, and `rcodec bench lossless`."""

import rcodec


@rcodec.hookimpl
def rcodec_register_codecs(register) -> None:
    from .codec import LosslessCodec

    register(LosslessCodec)


@rcodec.hookimpl
def rcodec_register_commands(cli) -> None:
    from .bench import register

    register(cli.commands["bench"])
