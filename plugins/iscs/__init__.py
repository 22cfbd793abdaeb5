"""Built-in plugin: ISCS channel importance analysis (`rcodec iscs analyze`) and the `hyperprior-iscs` codec."""

import rcodec


@rcodec.hookimpl
def rcodec_register_codecs(register) -> None:
    from .codec import HyperpriorIscsCodec

    register(HyperpriorIscsCodec)


@rcodec.hookimpl
def rcodec_register_commands(cli) -> None:
    from .commands import register, register_train

    register(cli)
    register_train(cli.commands["train"])
