"""Triton's PyTorch-backend parameters (``parameters { key: ... }`` in config.pbtxt).

Names and defaults follow Triton's PyTorch backend. Thread counts and the JIT executor
switches are process-wide in PyTorch, so, as in Triton, the first model that sets one wins and
later different values are ignored with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tritoncore.errors import invalid_arg

log = logging.getLogger(__name__)

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class TorchParameters:
    """The parameters one model's config sets (None: not set, PyTorch's default applies)."""

    inference_mode: bool = True
    disable_optimized_execution: bool = False
    enable_cache_cleaning: bool = False
    enable_weight_sharing: bool = False
    disable_cudnn: bool = False
    enable_jit_executor: bool | None = None
    enable_jit_profiling: bool | None = None
    intra_op_thread_count: int | None = None
    inter_op_thread_count: int | None = None

    @classmethod
    def from_config(cls, config: Any) -> TorchParameters:
        """Read the known keys; unknown keys are left alone (other tools use parameters too)."""
        params = {key: value.string_value for key, value in config.parameters.items()}

        def flag(key: str, default: bool | None) -> bool | None:
            if key not in params:
                return default
            value = params[key].strip().lower()
            if value in _TRUE:
                return True
            if value in _FALSE:
                return False
            raise invalid_arg(
                f"model '{config.name}': parameter {key} must be true or false, got "
                f"'{params[key]}'"
            )

        def count(key: str) -> int | None:
            if key not in params:
                return None
            try:
                value = int(params[key])
            except ValueError:
                value = -1
            if value < 0:
                raise invalid_arg(
                    f"model '{config.name}': parameter {key} must be a non-negative integer, "
                    f"got '{params[key]}'"
                )
            return value or None  # 0 means PyTorch's default, as in Triton

        if "ENABLE_NVFUSER" in params:
            log.warning("model '%s': ENABLE_NVFUSER is ignored (NVFuser is gone from current "
                        "PyTorch)", config.name)
        return cls(
            inference_mode=bool(flag("INFERENCE_MODE", True)),
            disable_optimized_execution=bool(flag("DISABLE_OPTIMIZED_EXECUTION", False)),
            enable_cache_cleaning=bool(flag("ENABLE_CACHE_CLEANING", False)),
            enable_weight_sharing=bool(flag("ENABLE_WEIGHT_SHARING", False)),
            disable_cudnn=bool(flag("DISABLE_CUDNN", False)),
            enable_jit_executor=flag("ENABLE_JIT_EXECUTOR", None),
            enable_jit_profiling=flag("ENABLE_JIT_PROFILING", None),
            intra_op_thread_count=count("INTRA_OP_THREAD_COUNT"),
            inter_op_thread_count=count("INTER_OP_THREAD_COUNT"),
        )
