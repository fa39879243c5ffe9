"""Trace and log settings that clients read and change at run time (Triton's trace and
logging extensions), shared by the HTTP and gRPC frontends.

Values keep Triton's shapes: trace settings are lists of strings (global, with per-model
overrides); log settings are booleans, an unsigned level or strings.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from tritoncore.errors import invalid_arg

TRACE_LEVELS = ("OFF", "TIMESTAMPS", "TENSORS")
#: Triton's defaults, as the real Triton 2.51 reports them.
TRACE_DEFAULTS: dict[str, list[str]] = {
    "trace_file": [""],
    "trace_level": ["OFF"],
    "trace_rate": ["1000"],
    "trace_count": ["-1"],
    "log_frequency": ["0"],
    "trace_mode": ["triton"],
}
LOG_DEFAULTS: dict[str, Any] = {
    "log_file": "",
    "log_info": True,
    "log_warning": True,
    "log_error": True,
    "log_verbose_level": 0,
    "log_format": "default",
}
LOG_FORMATS = ("default", "ISO8601")


def _check_trace(key: str, values: list[str]) -> None:
    if key not in TRACE_DEFAULTS:
        raise invalid_arg(
            f"unknown trace setting '{key}'; settings are {', '.join(TRACE_DEFAULTS)}")
    if key == "trace_level":
        bad = [v for v in values if v not in TRACE_LEVELS]
        if bad:
            raise invalid_arg(
                f"trace_level {bad[0]!r} is not one of {', '.join(TRACE_LEVELS)}")
    elif key in ("trace_rate", "trace_count", "log_frequency"):
        if len(values) != 1:
            raise invalid_arg(f"trace setting '{key}' takes one value, got {len(values)}")
        try:
            number = int(values[0])
        except ValueError:
            raise invalid_arg(f"trace setting '{key}' must be an integer, got {values[0]!r}") \
                from None
        if number < (-1 if key == "trace_count" else 0):
            raise invalid_arg(f"trace setting '{key}' is out of range: {number}")
    elif key in ("trace_file", "trace_mode") and len(values) != 1:
        raise invalid_arg(f"trace setting '{key}' takes one value, got {len(values)}")


class TraceSettings:
    """Global trace settings and per-model overrides; thread-safe.

    Tracing itself (writing trace files) is not implemented yet: the settings are kept and
    reported so clients and tools that set them keep working.
    """

    def __init__(self) -> None:
        self._global = {k: list(v) for k, v in TRACE_DEFAULTS.items()}
        self._models: dict[str, dict[str, list[str]]] = {}
        self._lock = threading.Lock()

    def get(self, model: str = "") -> dict[str, list[str]]:
        with self._lock:
            merged = {k: list(v) for k, v in self._global.items()}
            merged.update({k: list(v) for k, v in self._models.get(model, {}).items()})
            return merged

    def update(self, model: str, changes: dict[str, list[str] | None]) -> dict[str, list[str]]:
        """Apply ``changes`` (None or [] clears a model's override, or resets a global one to
        its default); returns the settings now in effect. All-or-nothing."""
        for key, values in changes.items():
            if values:
                _check_trace(key, values)
            elif key not in TRACE_DEFAULTS:
                _check_trace(key, [])
        with self._lock:
            for key, values in changes.items():
                if model:
                    overrides = self._models.setdefault(model, {})
                    if values:
                        overrides[key] = list(values)
                    else:
                        overrides.pop(key, None)
                else:
                    self._global[key] = list(values) if values else list(TRACE_DEFAULTS[key])
        return self.get(model)


class LogSettings:
    """Triton's log settings; ``log_verbose_level`` drives the ``tritoncore`` loggers."""

    def __init__(self, verbose_level: int = 0) -> None:
        self._values = dict(LOG_DEFAULTS, log_verbose_level=verbose_level)
        self._lock = threading.Lock()

    def get(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._values)

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate and apply ``changes`` (all-or-nothing); returns the settings now."""
        for key, value in changes.items():
            if key not in LOG_DEFAULTS:
                raise invalid_arg(
                    f"unknown log setting '{key}'; settings are {', '.join(LOG_DEFAULTS)}")
            want = type(LOG_DEFAULTS[key])
            if type(value) is not want:
                raise invalid_arg(
                    f"log setting '{key}' must be a {want.__name__}, got {value!r}")
            if key == "log_verbose_level" and value < 0:
                raise invalid_arg(f"log_verbose_level must be >= 0, got {value}")
            if key == "log_format" and value not in LOG_FORMATS:
                raise invalid_arg(f"log_format {value!r} is not one of {', '.join(LOG_FORMATS)}")
        with self._lock:
            self._values.update(changes)
            values = dict(self._values)
        self._apply(values)
        return values

    @staticmethod
    def _apply(values: dict[str, Any]) -> None:
        if values["log_verbose_level"] > 0:
            level = logging.DEBUG
        elif values["log_info"]:
            level = logging.INFO
        elif values["log_warning"]:
            level = logging.WARNING
        else:
            level = logging.ERROR
        logging.getLogger("tritoncore").setLevel(level)
