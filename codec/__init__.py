"""rcodec: learned compression codecs for images and audio.

    >>> import rcodec
    >>> data = rcodec.encode("photo.png", codec="lossless")
    >>> pixels = rcodec.decode(data)

Importing rcodec is cheap: torch and compressai load only when a codec that needs them runs.
"""

from __future__ import annotations

from typing import Any

from .errors import ChecksumError, FormatError, MediaError, OutputError, RcodecError, UnsupportedError, WeightsError
from .hookspecs import hookimpl

__version__ = "0.1.0"

_LAZY = {
    "encode": "pipeline", "decode": "pipeline", "info": "pipeline", "codecs": "pipeline",
    "Audio": "media", "Media": "media", "Codec": "codec", "Option": "codec", "EncodeResult": "codec",
    "SymbolSink": "codec", "HeaderParam": "codec", "SymbolSource": "codec", "get_registry": "registry",
    "Header": "container",
    "open": "dataset", "DatasetFile": "dataset",
}


def __getattr__(name: str) -> Any:
    # Submodules import numpy; keep `import rcodec` (and so `rcodec --help`) light.
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'rcodec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "Audio", "ChecksumError", "Codec", "DatasetFile", "EncodeResult", "FormatError", "HeaderParam", "MediaError",
    "Option", "OutputError", "RcodecError", "UnsupportedError", "WeightsError", "codecs", "decode", "encode",
    "hookimpl", "info", "open",
]
