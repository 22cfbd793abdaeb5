"""The plugin registry: a pluggy PluginManager named "rcodec".

Built-in plugins are the modules listed in `rcodec.plugins.BUILTIN`; third-party ones come from the entry-point
group `rcodec`. Both register through the same hooks. `RCODEC_LOAD_PLUGINS` (comma-separated entry-point names)
restricts which third-party plugins load; set it to an empty string to load none.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .errors import UnsupportedError

if TYPE_CHECKING:
    from rcodec.entropy import EntropyCoder

    from .codec import Codec

ENTRY_POINT_GROUP = "rcodec"
DEFAULT_CODER_PREFERENCE = ("rans", "ans")


@dataclass
class PluginInfo:
    name: str
    version: str | None
    hooks: list[str]
    builtin: bool
    error: str | None = None


class Registry:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("rcodec")
        self.pm.add_hookspecs(hookspecs)
        self.failed: dict[str, str] = {}
        self._versions: dict[str, str | None] = {}
        self._builtin: set[str] = set()
        self._codecs: dict[str, tuple[type[Codec], str]] | None = None
        self._coders: dict[str, tuple[EntropyCoder, str]] | None = None
        self._instances: dict[str, Codec] = {}

    # --- loading -------------------------------------------------------------------------------------------------

    def load(self) -> None:
        from rcodec import plugins

        for module_name in plugins.BUILTIN:
            module = importlib.import_module(module_name)
            name = module_name.rsplit(".", 1)[-1]
            self.pm.register(module, name=name)
            self._builtin.add(name)
            self._versions[name] = _package_version("rcodec")
        self._load_entry_points()
        self.pm.check_pending()  # a hookimpl with a misspelt name fails loudly here

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        allowed = os.environ.get("RCODEC_LOAD_PLUGINS")
        allowed_names = None if allowed is None else {n.strip() for n in allowed.split(",") if n.strip()}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if allowed_names is not None and ep.name not in allowed_names:
                continue
            if self.pm.get_plugin(ep.name) is not None or ep.name in self._builtin:
                continue
            try:
                self.pm.register(ep.load(), name=ep.name)
            except Exception as exc:  # a broken third-party plugin must not take the CLI down
                self.failed[ep.name] = f"{type(exc).__name__}: {exc}"
                print(f"rcodec: warning: plugin {ep.name!r} failed to load: {exc}", file=sys.stderr)
                continue
            self._versions[ep.name] = ep.dist.version if ep.dist else None

    def register_plugin(self, plugin: Any, name: str) -> None:
        """Register a plugin object at run time (tests, notebooks); invalidates the codec and coder tables."""
        self.pm.register(plugin, name=name)
        self.pm.check_pending()
        self._versions[name] = getattr(plugin, "__version__", None)
        self._codecs = self._coders = None
        self._instances.clear()

    def unregister_plugin(self, name: str) -> None:
        self.pm.unregister(name=name)
        self._codecs = self._coders = None
        self._instances.clear()

    # --- collecting ----------------------------------------------------------------------------------------------

    def _collect(self, hook_name: str, key) -> dict[str, tuple[Any, str]]:
        found: dict[str, tuple[Any, str]] = {}
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            plugin_name = self.pm.get_name(impl.plugin) or "?"

            def register(obj: Any, _plugin: str = plugin_name) -> None:
                ident = key(obj)
                if not ident:
                    raise UnsupportedError(f"plugin {_plugin!r} registered an object without an id")
                if ident in found:
                    raise UnsupportedError(f"id {ident!r} registered by both {found[ident][1]!r} and {_plugin!r}")
                found[ident] = (obj, _plugin)

            impl.function(register)
        return found

    def codec_classes(self) -> dict[str, tuple[type[Codec], str]]:
        if self._codecs is None:
            self._codecs = self._collect("rcodec_register_codecs", lambda c: c.id)
        return self._codecs

    def coders(self) -> dict[str, tuple[EntropyCoder, str]]:
        if self._coders is None:
            self._coders = self._collect("rcodec_register_entropy_coders", lambda c: c.id)
        return self._coders

    def codec(self, codec_id: str) -> Codec:
        if codec_id not in self._instances:
            classes = self.codec_classes()
            if codec_id not in classes:
                known = ", ".join(sorted(classes))
                raise UnsupportedError(f"unknown codec {codec_id!r} (available: {known})")
            self._instances[codec_id] = classes[codec_id][0]()
        return self._instances[codec_id]

    def coder(self, coder_id: str | None = None) -> EntropyCoder:
        coders = self.coders()
        if coder_id is None:
            coder_id = next((c for c in DEFAULT_CODER_PREFERENCE if c in coders), None) or next(iter(coders), None)
        if coder_id not in coders:
            raise UnsupportedError(f"unknown entropy coder {coder_id!r} (available: {', '.join(sorted(coders))})")
        return coders[coder_id][0]

    def plugins(self) -> list[PluginInfo]:
        out = []
        for name, plugin in self.pm.list_name_plugin():
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            out.append(PluginInfo(name, self._versions.get(name), hooks, name in self._builtin))
        out += [PluginInfo(n, None, [], False, err) for n, err in self.failed.items()]
        return sorted(out, key=lambda p: (not p.builtin, p.name))


def _package_version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


@cache
def get_registry() -> Registry:
    registry = Registry()
    registry.load()
    return registry
