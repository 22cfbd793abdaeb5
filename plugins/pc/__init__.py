"""Built-in plugin: `pc-mnist`, lossless MNIST digits with a hidden Chow-Liu tree probabilistic circuit, plus
`rcodec train pc` and `rcodec bench pc`. Kept light: numpy, torch and the codec load inside the hooks."""

import rcodec


@rcodec.hookimpl
def rcodec_register_codecs(register) -> None:
    from .codec import PcMnistCodec

    register(PcMnistCodec)


@rcodec.hookimpl
def rcodec_register_commands(cli) -> None:
    from .commands import register_bench, register_train

    register_train(cli.commands["train"])
    register_bench(cli.commands["bench"])
