"""VQGAN tokenizer codec for extreme rates: K-means codebook ladder, learned index prior, lost-index restoration."""

import rcodec


@rcodec.hookimpl
def rcodec_register_codecs(register) -> None:
    from .codec import VqganCodec

    register(VqganCodec)


@rcodec.hookimpl
def rcodec_register_commands(cli) -> None:
    from .commands import register_train

    register_train(cli.commands["train"])
