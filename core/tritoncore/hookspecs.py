"""The plugin contract: every hook a plugin may implement.

Hooks are for registration and lifecycle events, never for the per-request path (a pluggy call
costs microseconds). A plugin is a module or object with functions marked ``@hookimpl``;
an installed plugin is found through the ``tritoncore`` entry point group, where the entry
point's name is the backend name that ``config.pbtxt`` uses.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from tritoncore.backend import Backend
    from tritoncore.frontend import Frontend
    from tritoncore.server import Server

PROJECT = "tritoncore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------


@hookspec(historic=True)
def tritoncore_register_backends(register: Callable[[type[Backend]], None]) -> None:
    """Register backend classes: call ``register(MyBackend)`` once per backend.

    ``MyBackend.name`` is the name models use (``backend: "python"``). The hook is historic:
    a plugin loaded on demand (when the first model that needs it loads) registers at once.
    Since 0.1.
    """


@hookspec(historic=True)
def tritoncore_register_frontends(register: Callable[[type[Frontend]], None]) -> None:
    """Register frontend classes (HTTP, gRPC, metrics are built-in plugins doing this).

    Since 0.1.
    """


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


@hookspec
def tritoncore_add_cli_options(parser: argparse.ArgumentParser) -> None:
    """Add options to ``tritoncore serve``; read them back from ``server.options.extra``.

    Since 0.1.
    """


# --------------------------------------------------------------------------------------------
# Server and model lifecycle (observers: return values are ignored)
# --------------------------------------------------------------------------------------------


@hookspec
def tritoncore_server_started(server: Server) -> None:
    """Called once the server has loaded its start-up models and its frontends listen.

    Since 0.1.
    """


@hookspec
def tritoncore_server_stopping(server: Server) -> None:
    """Called when shutdown begins, before frontends close and models unload. Since 0.1."""


@hookspec
def tritoncore_model_loaded(name: str, version: int, config: Any) -> None:
    """Called after a model version became READY; ``config`` is its ModelConfig. Since 0.1."""


@hookspec
def tritoncore_model_unloaded(name: str, version: int) -> None:
    """Called after a model version was unloaded and its instances finalized. Since 0.1."""


@hookspec
def tritoncore_metrics_text(server: Server) -> str | None:
    """Extra Prometheus text for ``/metrics`` (complete ``# HELP``/``# TYPE`` blocks), e.g.
    the custom metrics a backend's models define. Called on every scrape. Since 0.1.
    """


# --------------------------------------------------------------------------------------------
# Conformance kit (tritoncore-sdk)
# --------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def tritoncore_conformance_models(backend: str, repository: Path) -> Mapping[str, str] | None:
    """Write standard test models for ``backend`` into ``repository``; return their roles.

    Called by the conformance kit (``pytest --tritoncore-backend=NAME`` without
    ``--tritoncore-models``). Return ``None`` for a backend you do not provide; otherwise a
    mapping of model name -> role, roles being ``identity`` (output *i* equals input *i*; its
    dtypes are the dtypes the backend claims; batching and instance groups come from its
    config), ``decoupled``, ``error`` (every request fails) and ``autocomplete`` (a config
    that auto-complete completes). firstresult: the first non-None answer wins. Since 0.1.
    """
