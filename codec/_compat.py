"""The one place rcodec imports compressai.

compressai 1.2.8 imports torchvision at package import time, but only to list transform names for its registry;
none of the compressai code rcodec uses touches torchvision. On machines where torchvision is missing, or is a
build that fails to load its native operators (no CPU build of torchvision matches the pinned CPU torch on the
package index), that import breaks the whole package. So, unless the host program has already imported
torchvision, compressai is imported with an empty placeholder in its place, and the placeholder is removed again
as soon as compressai is in: the host program's `import torchvision` later gets the real package (or its real
error), never rcodec's stand-in.
"""

from __future__ import annotations

import sys
import threading
import types
from typing import Any

_compressai: Any = None
_lock = threading.Lock()


def _torchvision_entries() -> dict[str, Any]:
    return {m: sys.modules[m] for m in list(sys.modules) if m == "torchvision" or m.startswith("torchvision.")}


def _import_with_placeholder() -> Any:
    """Import compressai with a placeholder torchvision in sys.modules, then restore sys.modules' torchvision
    entries to what they were (none)."""
    before = _torchvision_entries()
    placeholder = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    placeholder.transforms = transforms  # type: ignore[attr-defined]
    placeholder.__rcodec_placeholder__ = True  # type: ignore[attr-defined]
    sys.modules["torchvision"] = placeholder
    sys.modules["torchvision.transforms"] = transforms
    try:
        return _import_compressai()
    finally:
        for name in _torchvision_entries():
            del sys.modules[name]
        sys.modules.update(before)


def _import_compressai() -> Any:
    import compressai as module
    import compressai.ans  # noqa: F401
    import compressai.entropy_models  # noqa: F401
    import compressai.layers  # noqa: F401
    import compressai.models  # noqa: F401

    return module


def compressai() -> Any:
    """Import and return the compressai package, leaving `sys.modules['torchvision']` as it was."""
    global _compressai
    with _lock:  # the placeholder must not come and go while another thread imports
        if _compressai is None:
            _compressai = _import_compressai() if "torchvision" in sys.modules else _import_with_placeholder()
    return _compressai
