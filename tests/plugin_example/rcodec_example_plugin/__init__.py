"""A third-party rcodec plugin, as small as one can be: a codec that stores 8-bit image samples with an
order-0 model sent in the stream, and a `rcodec example-hello` command.

The module that the entry point names imports nothing heavy: the codec class lives in `codec.py`.
"""

from __future__ import annotations

import click

import rcodec


@rcodec.hookimpl
def rcodec_register_codecs(register) -> None:
    from .codec import Order0Codec

    register(Order0Codec)


@rcodec.hookimpl
def rcodec_register_commands(cli) -> None:
    @cli.command(name="example-hello")
    def hello() -> None:
        """Say hello from the example plugin."""
        click.echo("hello from rcodec-example-plugin")
