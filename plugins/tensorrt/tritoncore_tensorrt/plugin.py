"""Entry point module: registers the TensorRT backend (importing TensorRT only on first load)."""

from __future__ import annotations

from collections.abc import Callable

from tritoncore.backend import Backend
from tritoncore.hookspecs import hookimpl

from tritoncore_tensorrt.backend import TensorRTBackend


@hookimpl
def tritoncore_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(TensorRTBackend)
