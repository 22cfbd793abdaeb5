"""Adaptive-length image tokenizers: ALIT (recurrent allocation) and KARL (single-pass halting).

Codecs `alit`, `karl` and the fixed-length control `alit-fixed`; `rcodec train adaptive` and
`rcodec bench adaptive`. Torch is imported only when one of them runs.
"""

import rcodec


@rcodec.hookimpl
def rcodec_register_codecs(register) -> None:
    from .codec import AlitCodec, AlitFixedCodec, KarlCodec

    register(AlitCodec)
    register(KarlCodec)
    register(AlitFixedCodec)


@rcodec.hookimpl
def rcodec_register_commands(cli) -> None:
    from .commands import register_bench, register_train

    register_train(cli.commands["train"])
    register_bench(cli.commands["bench"])
