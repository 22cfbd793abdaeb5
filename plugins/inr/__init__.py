"""Implicit neural representation codecs for images and audio: `inr` (COIN-style fitting of one network per
signal) and `inr-vc` (a shared meta-learned base network with per-patch latent modulations), plus
`rcodec train inr`. Kept light: numpy, torch and the codecs load inside the hooks."""

import rcodec


@rcodec.hookimpl
def rcodec_register_codecs(register) -> None:
    from .codec import InrCodec
    from .vc_codec import InrVcCodec

    register(InrCodec)
    register(InrVcCodec)


@rcodec.hookimpl
def rcodec_register_commands(cli) -> None:
    from .commands import register_train

    register_train(cli.commands["train"])
