"""Built-in plugin: the `jpeg` codec (exact recompression of JPEG files) and `rcodec bench jpeg`."""

import rcodec


@rcodec.hookimpl
def rcodec_register_codecs(register) -> None:
    from .codec import JpegCodec

    register(JpegCodec)


@rcodec.hookimpl
def rcodec_register_commands(cli) -> None:
    from .bench import register

    register(cli.commands["bench"])
