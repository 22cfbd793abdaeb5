"""The hooks a plugin implements. Built-in plugins use exactly these, like any third-party package.

A plugin module (or package) marks functions with `@rcodec.hookimpl` and is found through the entry-point group
`rcodec`:

    [project.entry-points.rcodec]
    my_codec = "my_package.plugin"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("rcodec")
hookimpl = pluggy.HookimplMarker("rcodec")


@hookspec
def rcodec_register_codecs(register: Callable[[type], None]) -> None:
    """Call `register(CodecClass)` for each codec (a subclass of `rcodec.Codec`) the plugin provides."""


@hookspec
def rcodec_register_entropy_coders(register: Callable[[Any], None]) -> None:
    """Call `register(coder)` for each entropy-coder backend (an `rcodec.entropy.EntropyCoder` instance)."""


@hookspec
def rcodec_register_commands(cli: Any) -> None:
    """Add click commands to the `rcodec` CLI group, or to its `bench` and `train` sub-groups
    (`cli.commands["bench"]`, `cli.commands["train"]`)."""
