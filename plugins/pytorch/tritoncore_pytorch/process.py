"""PyTorch settings that are process-wide: the first model that sets one wins (as Triton)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import torch

from tritoncore_pytorch.parameters import TorchParameters

log = logging.getLogger(__name__)

_lock = threading.Lock()
_applied: dict[str, tuple[Any, str]] = {}  # setting -> (value, model that set it)


def apply(model: str, params: TorchParameters) -> None:
    """Apply the process-wide settings ``params`` asks for, once each."""
    settings: list[tuple[str, Any, Callable[[Any], Any]]] = [
        ("INTRA_OP_THREAD_COUNT", params.intra_op_thread_count, torch.set_num_threads),
        ("INTER_OP_THREAD_COUNT", params.inter_op_thread_count, torch.set_num_interop_threads),
        ("ENABLE_JIT_EXECUTOR", params.enable_jit_executor,
         torch._C._jit_set_profiling_executor),
        ("ENABLE_JIT_PROFILING", params.enable_jit_profiling, torch._C._jit_set_profiling_mode),
        ("DISABLE_CUDNN", params.disable_cudnn or None,
         lambda v: setattr(torch.backends.cudnn, "enabled", not v)),
    ]
    with _lock:
        for key, value, setter in settings:
            if value is None:
                continue
            if key in _applied:
                old, owner = _applied[key]
                if old != value:
                    log.warning("model '%s': %s=%s ignored; it is process-wide and model '%s' "
                                "already set it to %s", model, key, value, owner, old)
                continue
            try:
                setter(value)
            except RuntimeError as exc:  # inter-op threads: only before any parallel work
                log.warning("model '%s': cannot set %s=%s now: %s", model, key, value, exc)
                continue
            _applied[key] = (value, model)
            log.info("model '%s': %s set to %s for the whole process", model, key, value)
