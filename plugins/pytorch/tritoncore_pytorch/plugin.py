"""Entry point ``pytorch`` in the ``tritoncore`` group: registers the PyTorch backend."""

from __future__ import annotations

from collections.abc import Callable

from tritoncore.backend import Backend
from tritoncore.hookspecs import hookimpl

from tritoncore_pytorch.backend import PyTorchBackend


@hookimpl
def tritoncore_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(PyTorchBackend)
