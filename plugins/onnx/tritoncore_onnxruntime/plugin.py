"""Entry point ``onnxruntime`` in the ``tritoncore`` group: registers the backend."""

from __future__ import annotations

from collections.abc import Callable

from tritoncore.backend import Backend
from tritoncore.hookspecs import hookimpl

from tritoncore_onnxruntime.backend import OnnxRuntimeBackend


@hookimpl
def tritoncore_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(OnnxRuntimeBackend)
