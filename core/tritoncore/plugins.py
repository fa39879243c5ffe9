"""The plugin manager: entry-point discovery, built-ins, allow/block list, lazy loading.

Start-up reads only entry point *names*; a plugin's module is imported the first time a model
asks for its backend (importing torch costs seconds that a server of Python models should not
pay). ``TRITONCORE_PLUGINS`` filters discovery: ``"python,pytorch"`` allows only those,
``"-onnxruntime"`` blocks one, both forms may be mixed. ``TRITONCORE_TRACE_HOOKS=1`` logs every
hook call.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from tritoncore import hookspecs
from tritoncore.backend import Backend
from tritoncore.config.platforms import distribution_for
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.frontend import Frontend

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "tritoncore"
ENV_FILTER = "TRITONCORE_PLUGINS"
ENV_TRACE = "TRITONCORE_TRACE_HOOKS"
#: Built-in backends (the ensemble scheduler's platform).
BUILTIN_BACKENDS: tuple[str, ...] = ("tritoncore.scheduling.ensemble",)
#: Built-in plugins, registered like any other (modules with hook implementations).
BUILTINS: tuple[str, ...] = ("tritoncore.frontends.http", "tritoncore.frontends.grpc",
                             "tritoncore.frontends.metrics")


@dataclass(frozen=True)
class PluginInfo:
    """One discovered entry point."""

    name: str
    distribution: str
    version: str
    value: str
    enabled: bool


def parse_filter(spec: str) -> tuple[set[str], set[str]]:
    """``"a,b,-c"`` -> (allowed {a, b}, blocked {c}); an empty allow set allows all."""
    allow: set[str] = set()
    block: set[str] = set()
    for item in (s.strip() for s in spec.split(",")):
        if item.startswith("-"):
            block.add(item[1:].strip())
        elif item:
            allow.add(item)
    return allow, block


def discover(env: Mapping[str, str] | None = None) -> dict[str, PluginInfo]:
    """Every ``tritoncore`` entry point, marked enabled or not by the filter."""
    env = os.environ if env is None else env
    allow, block = parse_filter(env.get(ENV_FILTER, ""))
    found: dict[str, PluginInfo] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        enabled = (not allow or ep.name in allow) and ep.name not in block
        found[ep.name] = PluginInfo(
            ep.name,
            dist.metadata["Name"] if dist else "?",
            dist.version if dist else "?",
            ep.value,
            enabled,
        )
    return found


class PluginManager:
    """Owns the pluggy manager and the registries the hooks fill."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        if (os.environ if env is None else env).get(ENV_TRACE):
            self.pm.trace.root.setwriter(log.info)
            self.pm.enable_tracing()
        self.backends: dict[str, type[Backend]] = {}
        self.frontends: dict[str, type[Frontend]] = {}
        self._loaded: dict[str, Any] = {}  # backend name -> plugin object
        self.pm.hook.tritoncore_register_backends.call_historic(
            kwargs={"register": self._add_backend}
        )
        self.pm.hook.tritoncore_register_frontends.call_historic(
            kwargs={"register": self._add_frontend}
        )
        for module_name in (*BUILTINS, *BUILTIN_BACKENDS):
            self.pm.register(__import__(module_name, fromlist=["_"]), name=module_name)
        self.discovered = discover(env)
        self.pm.check_pending()

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def _add_backend(self, cls: type[Backend]) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise TypeError(f"register() takes a Backend subclass, got {cls!r}")
        self.backends[cls.name] = cls

    def _add_frontend(self, cls: type[Frontend]) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Frontend)):
            raise TypeError(f"register() takes a Frontend subclass, got {cls!r}")
        self.frontends[cls.name] = cls

    def backend_names(self) -> list[str]:
        """Backends that can be used: registered ones and enabled entry points."""
        enabled = {n for n, p in self.discovered.items() if p.enabled}
        return sorted(set(self.backends) | enabled)

    def register(self, plugin: Any, name: str | None = None) -> None:
        """Register a plugin object directly (tests, embedding applications)."""
        self.pm.register(plugin, name=name)
        self.pm.check_pending()

    def backend_class(self, name: str) -> type[Backend]:
        """The backend class for ``name``, importing its plugin on first use."""
        if name in self.backends:
            return self.backends[name]
        info = self.discovered.get(name)
        if info is None or not info.enabled:
            raise TritonError(ErrorCode.UNAVAILABLE, self.missing_backend_message(name))
        ep = next(e for e in metadata.entry_points(group=ENTRY_POINT_GROUP) if e.name == name)
        where = f"distribution '{info.distribution}' {info.version} (entry point {info.value})"
        try:
            plugin = ep.load()
            self.pm.register(plugin, name=f"{ENTRY_POINT_GROUP}:{name}")
            self.pm.check_pending()
        except Exception as exc:
            raise TritonError(
                ErrorCode.UNAVAILABLE,
                f"backend '{name}' from {where} failed to load: {type(exc).__name__}: {exc}",
            ) from exc
        if name not in self.backends:
            self.pm.unregister(plugin)
            raise TritonError(
                ErrorCode.UNAVAILABLE,
                f"{where} registered no backend named '{name}': its "
                "tritoncore_register_backends hook must register a Backend with that name",
            )
        self._loaded[name] = plugin
        log.info("loaded backend '%s' from %s", name, where)
        return self.backends[name]

    def unload_backend(self, name: str) -> None:
        """Forget an entry-point backend so that its next use imports it again."""
        plugin = self._loaded.pop(name, None)
        if plugin is not None:
            self.pm.unregister(plugin)
            self.backends.pop(name, None)

    def missing_backend_message(self, name: str) -> str:
        """Why ``name`` is not available and what would add it."""
        installed = ", ".join(self.backend_names()) or "none"
        msg = f"no backend named '{name}' is installed (installed backends: {installed})"
        info = self.discovered.get(name)
        if info is not None and not info.enabled:
            msg = f"backend '{name}' is disabled by {ENV_FILTER}={os.environ.get(ENV_FILTER, '')!r}"
        elif distribution_for(name):
            msg += f"; install it with: pip install {distribution_for(name)}"
        return msg
