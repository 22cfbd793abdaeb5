"""The one place rcodec imports compressai.

compressai 1.2.8 imports torchvision at package import time, but only to list transform names for its registry.
On machines where torchvision is missing or is a build that fails to load its native operators (no CPU build of
torchvision matches the pinned CPU torch on the package index), that import breaks the whole package. We then give
compressai an empty placeholder module: none of the compressai code rcodec uses touches torchvision.
"""

from __future__ import annotations

import sys
import types
from typing import Any

_compressai: Any = None


def _install_torchvision_placeholder() -> None:
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # drop the half-initialised real package
    placeholder = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    placeholder.transforms = transforms  # type: ignore[attr-defined]
    placeholder.__rcodec_placeholder__ = True  # type: ignore[attr-defined]
    sys.modules["torchvision"] = placeholder
    sys.modules["torchvision.transforms"] = transforms


def compressai() -> Any:
    """Import and return the compressai package (with the torchvision placeholder when needed)."""
    global _compressai
    if _compressai is None:
        try:
            import torchvision  # noqa: F401
        except Exception:  # ImportError, or RuntimeError from a CUDA-only build
            _install_torchvision_placeholder()
        import compressai as module
        import compressai.ans  # noqa: F401
        import compressai.entropy_models  # noqa: F401
        import compressai.layers  # noqa: F401
        import compressai.models  # noqa: F401

        _compressai = module
    return _compressai
