"""Built-in plugin: the `factorized` and `hyperprior` learned image codecs and `rcodec train hyperprior`."""

import rcodec


@rcodec.hookimpl
def rcodec_register_codecs(register) -> None:
    from .codec import FactorizedCodec, HyperpriorCodec

    register(FactorizedCodec)
    register(HyperpriorCodec)


@rcodec.hookimpl
def rcodec_register_commands(cli) -> None:
    from .commands import register_train, register_train_context

    register_train(cli.commands["train"])
    register_train_context(cli.commands["train"])
