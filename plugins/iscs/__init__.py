"""Built-in plugin: ISCS channel importance analysis (`rcodec iscs analyze`)."""

import rcodec


@rcodec.hookimpl
def rcodec_register_commands(cli) -> None:
    from .commands import register

    register(cli)
