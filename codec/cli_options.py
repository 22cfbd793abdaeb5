"""Command-line flags and help built from the options codecs declare (`rcodec.Option`), so that the core command
line names no codec: a codec that declares `flag="--target-psnr"` gets that flag on `rcodec compress`, and
`rcodec codecs ID` prints every option of codec ID."""

from __future__ import annotations

import textwrap
from typing import Any

import click

_PREFIX = "codec_option__"  # the click parameter names of declared flags: no clash with the core's own


def _declared(classes: dict[str, tuple[type, str]], decoding: bool) -> dict[str, tuple[Any, list[str]]]:
    """flag -> (the first codec's Option declaring it, ids of every codec declaring it)."""
    flags: dict[str, tuple[Any, list[str]]] = {}
    for codec_id, (cls, _) in sorted(classes.items()):
        for option in (cls.decode_options if decoding else cls.options).values():
            if option.flag:
                flags.setdefault(option.flag, (option, []))[1].append(codec_id)
    return flags


class CodecOptionsCommand(click.Command):
    """A command that also takes the flags codecs declare: encoding options for `compress`, decode options for
    `decompress`. They are built from the registry when the command parses or shows its help, so `rcodec --help`
    loads no codec."""

    def __init__(self, *args: Any, decoding: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.decoding = decoding
        self._codec_params: list[click.Parameter] = []
        self._built_for: object = None  # the registry's codec table the flags were built from

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        from .registry import get_registry

        params = super().get_params(ctx)
        classes = get_registry().codec_classes()
        if self._built_for is not classes:  # first use, or a plugin was registered since
            self._built_for, self._codec_params = classes, []
            for flag, (option, codec_ids) in _declared(classes, self.decoding).items():
                decl = [flag, _PREFIX + option.name]
                note = f"{option.help} ({', '.join(codec_ids)}; -p {option.name}=VALUE)"
                if option.type is bool:
                    self._codec_params.append(click.Option(decl, is_flag=True, default=None, help=note))
                else:
                    self._codec_params.append(click.Option(decl, type=option.type, default=None, help=note))
        return params[:-1] + self._codec_params + params[-1:]  # --help stays last


def declared_values(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The declared flags a user gave, as codec parameters (name -> value); pops them from the command's kwargs."""
    out = {}
    for key in [k for k in kwargs if k.startswith(_PREFIX)]:
        value = kwargs.pop(key)
        if value is not None:
            out[key[len(_PREFIX):]] = value
    return out


def _describe(option: Any) -> str:
    """`  name (type; default: D; flag: --x)` and the help below it, wrapped."""
    kind = option.type.__name__
    if option.choices is not None:
        kind = "one of " + ", ".join(map(str, option.choices))
    elif option.range is not None:
        kind += f" {option.range[0]:g}..{option.range[1]:g}"
    facts = [kind] + ([f"default: {option.default}"] if option.default is not None else []) \
        + ([f"flag: {option.flag}"] if option.flag else [])
    return f"  {option.name} ({'; '.join(facts)})\n" + textwrap.fill(option.help, 100, initial_indent=" " * 6,
                                                                       subsequent_indent=" " * 6)


def codec_help(codec_id: str) -> str:
    """What `rcodec codecs ID` prints: the codec's description and every option it declares."""
    from .registry import get_registry

    cls = type(get_registry().codec(codec_id))
    kind = "lossless" if cls.lossless else "lossy"
    lines = [f"{cls.id} v{cls.version} ({'/'.join(cls.media)}, {kind}): {cls.description}", "",
             "options (rcodec compress -p NAME=VALUE, or rcodec.encode(..., NAME=VALUE)):"]
    lines += [_describe(o) for o in cls.options.values()] or ["  none"]
    lines += ["", "decode options (rcodec decompress -p NAME=VALUE, or rcodec.decode(..., NAME=VALUE)):"]
    lines += [_describe(o) for o in cls.decode_options.values()] or ["  none"]
    return "\n".join(lines)


def option_rows(options: dict[str, Any]) -> list[dict[str, Any]]:
    """Options as JSON-ready dicts, for `rcodec codecs --json`."""
    return [{"name": o.name, "type": o.type.__name__, "default": o.default, "help": o.help,
             "choices": list(o.choices) if o.choices is not None else None,
             "range": list(o.range) if o.range is not None else None, "flag": o.flag} for o in options.values()]
