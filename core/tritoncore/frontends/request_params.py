"""Triton's reserved inference-request parameters, applied to an ``InferenceRequest``.

Shared by every frontend: HTTP and gRPC carry the same parameter names (``sequence_id``,
``sequence_start``, ``sequence_end``, ``priority``, ``timeout``); the rest are handed to the
backend unchanged in ``request.parameters``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tritoncore.errors import invalid_arg
from tritoncore.scheduling.request import SEQUENCE_END, SEQUENCE_START, InferenceRequest

#: Parameters a frontend consumes itself; never passed to the backend.
FRONTEND_ONLY = frozenset({"binary_data_output", "headers"})
_UINT64_MAX = 2**64 - 1


def _uint(name: str, value: Any, limit: int = _UINT64_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise invalid_arg(f"request parameter '{name}' must be an unsigned integer, got {value!r}")
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid_arg(f"request parameter '{name}' must be a boolean, got {value!r}")
    return value


def apply_request_parameters(request: InferenceRequest, params: Mapping[str, Any]) -> None:
    """Move the reserved parameters into ``request``'s fields; keep the others as parameters.

    Raises INVALID_ARG naming the parameter when a reserved one has the wrong type.
    """
    rest: dict[str, Any] = {}
    for key, value in params.items():
        if key == "sequence_id":
            if isinstance(value, str):
                request.correlation_id = value
            else:
                request.correlation_id = _uint(key, value)
        elif key == "sequence_start":
            if _bool(key, value):
                request.flags |= SEQUENCE_START
        elif key == "sequence_end":
            if _bool(key, value):
                request.flags |= SEQUENCE_END
        elif key == "priority":
            request.priority = _uint(key, value)
        elif key == "timeout":
            request.timeout_us = _uint(key, value)
        elif key not in FRONTEND_ONLY:
            rest[key] = value
    request.parameters = rest
