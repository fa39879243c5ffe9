"""What the kit certifies: a backend name, a model repository, and each model's role.

Roles say what the kit may expect of a model:

* ``identity``: output *i* equals input *i* (config order). Its dtypes are the dtypes the
  backend claims; its ``max_batch_size``/``dynamic_batching`` and instance count decide
  whether the batching and parallelism checks can run.
* ``decoupled``: a decoupled model (any number of responses, then the final flag).
* ``error``: every request fails; the kit checks codes and messages.
* ``autocomplete``: a model whose config (absent or partial) auto-complete fills.

A repository names roles in ``conformance.json`` (``{"model": "role"}``); without it a
model's role is the role its name starts with (``identity_fp32`` is an identity model).
A backend can also write a repository itself through the ``tritoncore_conformance_models``
hook, which returns the same mapping.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from tritoncore.plugins import PluginManager

#: A model repository, or a function that writes one into a directory and returns the roles.
Models = Union[Path, Callable[[Path], Mapping[str, str]], None]  # noqa: UP007 - a runtime alias

ROLES = ("identity", "decoupled", "error", "autocomplete")
MANIFEST = "conformance.json"


class TargetError(Exception):
    """The kit was not given enough to run (no backend, no models)."""


@dataclass(frozen=True)
class Target:
    backend: str
    repository: Path
    roles: Mapping[str, str]  # model name -> role
    generated: bool = False  # models came from the backend's hook

    def models(self, role: str) -> list[str]:
        return sorted(name for name, r in self.roles.items() if r == role)


def roles_of(repository: Path) -> dict[str, str]:
    """Roles from ``conformance.json``, else from model-name prefixes."""
    manifest = repository / MANIFEST
    if manifest.is_file():
        roles = {str(k): str(v) for k, v in json.loads(manifest.read_text()).items()}
    else:
        roles = {}
        for entry in sorted(p for p in repository.iterdir() if p.is_dir()):
            role = next((r for r in ROLES if entry.name.startswith(r)), None)
            if role:
                roles[entry.name] = role
    unknown = {n: r for n, r in roles.items() if r not in ROLES}
    if unknown:
        raise TargetError(f"{repository}: unknown roles {unknown}; roles are {', '.join(ROLES)}")
    return roles


def resolve(backend: str, models: Models, scratch: Path) -> Target:
    """The target: ``models`` if given (a repository, or a writer called with ``scratch``),
    else what the backend's hook writes into ``scratch``."""
    if callable(models):
        scratch.mkdir(parents=True, exist_ok=True)
        return Target(backend, scratch, dict(models(scratch)), generated=True)
    if models is not None:
        if not models.is_dir():
            raise TargetError(f"--tritoncore-models {models}: not a directory")
        return Target(backend, models, roles_of(models))
    plugins = PluginManager()
    if backend not in plugins.backends:
        plugins.backend_class(backend)  # import the plugin so that its hooks are registered
    scratch.mkdir(parents=True, exist_ok=True)
    roles = plugins.hook.tritoncore_conformance_models(backend=backend, repository=scratch)
    if roles is None:
        raise TargetError(
            f"backend '{backend}' implements no tritoncore_conformance_models hook: pass a "
            "model repository with --tritoncore-models=PATH (roles in conformance.json)")
    return Target(backend, scratch, dict(roles), generated=True)
