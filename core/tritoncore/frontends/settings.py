"""Trace and logging settings (Triton's trace and logging extensions), one store per server.

Shared by every frontend so that a setting changed over HTTP reads back the same over gRPC.
Logging settings take effect at once: they set the level of the ``tritoncore`` loggers and
filter what the root handlers print.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tritoncore.errors import invalid_arg, not_found, unsupported

TRACE_LEVELS = ("OFF", "TIMESTAMPS", "TENSORS")
TRACE_MODES = ("triton", "opentelemetry")
LOG_FORMATS = ("default", "ISO8601")
_TRACE_INT_KEYS = ("trace_rate", "trace_count", "log_frequency")

DEFAULT_TRACE: dict[str, Any] = {"trace_level": ["OFF"], "trace_rate": "1000",
                                 "trace_count": "-1", "log_frequency": "0", "trace_file": "",
                                 "trace_mode": "triton"}


class _LevelFilter(logging.Filter):
    """Drops INFO / WARNING / ERROR records as the logging settings say."""

    def __init__(self, settings: LogSettings) -> None:
        super().__init__()
        self.settings = settings

    def filter(self, record: logging.LogRecord) -> bool:
        s = self.settings
        if record.levelno >= logging.ERROR:
            return s.log_error
        if record.levelno >= logging.WARNING:
            return s.log_warning
        if record.levelno >= logging.INFO:
            return s.log_info
        return s.log_verbose_level > 0


@dataclass
class LogSettings:
    log_file: str = ""
    log_info: bool = True
    log_warning: bool = True
    log_error: bool = True
    log_verbose_level: int = 0
    log_format: str = "default"
    _filter: _LevelFilter | None = field(default=None, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {"log_file": self.log_file, "log_info": self.log_info,
                "log_warning": self.log_warning, "log_error": self.log_error,
                "log_verbose_level": self.log_verbose_level, "log_format": self.log_format}

    def update(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Validate all of ``values`` first, then apply them; returns the new settings."""
        if not isinstance(values, Mapping):
            raise invalid_arg("logging settings must be a JSON object")
        new = self.as_json()
        for key, value in values.items():
            if key == "log_file":
                if value != self.log_file:
                    raise unsupported("log file location can not be updated through the "
                                      "network protocol; use --log-file")
            elif key in ("log_info", "log_warning", "log_error"):
                if not isinstance(value, bool):
                    raise invalid_arg(f"logging setting '{key}' must be a boolean, got {value!r}")
                new[key] = value
            elif key == "log_verbose_level":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise invalid_arg(
                        f"logging setting '{key}' must be an unsigned integer, got {value!r}")
                new[key] = value
            elif key == "log_format":
                if value not in LOG_FORMATS:
                    raise invalid_arg(f"logging setting 'log_format' must be one of "
                                      f"{', '.join(LOG_FORMATS)}, got {value!r}")
                new[key] = value
            # unknown keys are ignored, as Triton does
        for key, value in new.items():
            setattr(self, key, value)
        self.apply()
        return self.as_json()

    def apply(self) -> None:
        """Make the settings take effect on Python logging."""
        logging.getLogger("tritoncore").setLevel(
            logging.DEBUG if self.log_verbose_level > 0 else logging.INFO)
        if self._filter is None:
            self._filter = _LevelFilter(self)
            for handler in logging.getLogger().handlers:
                handler.addFilter(self._filter)
        datefmt = "%Y-%m-%dT%H:%M:%SZ" if self.log_format == "ISO8601" else None
        for handler in logging.getLogger().handlers:
            if handler.formatter is not None:
                handler.formatter.datefmt = datefmt


def _trace_update(current: dict[str, Any], values: Mapping[str, Any],
                  fallback: dict[str, Any] | None) -> dict[str, Any]:
    """``current`` updated by ``values``; a null value resets a key to ``fallback``'s."""
    if not isinstance(values, Mapping):
        raise invalid_arg("trace settings must be a JSON object")
    new = dict(current)
    for key, value in values.items():
        if key not in DEFAULT_TRACE:
            raise invalid_arg(f"unknown trace setting '{key}'; expected one of "
                              f"{', '.join(DEFAULT_TRACE)}")
        if value is None:
            if fallback is None:
                raise invalid_arg(f"trace setting '{key}' cannot be cleared globally")
            new[key] = fallback[key]
            continue
        if key == "trace_file":
            if value != current["trace_file"]:
                raise unsupported("trace file location can not be updated through the "
                                  "network protocol; use --trace-config")
        elif key == "trace_level":
            levels = [value] if isinstance(value, str) else value
            if not isinstance(levels, list) or not levels or \
                    any(v not in TRACE_LEVELS for v in levels):
                raise invalid_arg(f"trace setting 'trace_level' must be a list of "
                                  f"{', '.join(TRACE_LEVELS)}, got {value!r}")
            new[key] = list(levels)
        elif key == "trace_mode":
            if value not in TRACE_MODES:
                raise invalid_arg(f"trace setting 'trace_mode' must be one of "
                                  f"{', '.join(TRACE_MODES)}, got {value!r}")
            new[key] = value
        else:
            text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
            try:
                number = int(text)
            except (TypeError, ValueError):
                raise invalid_arg(f"Unable to parse '{key}', got: {value}") from None
            if number < -1 or (key != "trace_count" and number < 0):
                raise invalid_arg(f"trace setting '{key}' is out of range: {value}")
            new[key] = str(number)
    return new


class TraceSettings:
    """Global trace settings plus per-model overrides (keys a model set itself)."""

    def __init__(self) -> None:
        self.global_: dict[str, Any] = dict(DEFAULT_TRACE)
        self.models: dict[str, dict[str, Any]] = {}  # model -> keys set for it

    def get(self, model: str = "") -> dict[str, Any]:
        if not model:
            return dict(self.global_)
        return {**self.global_, **self.models.get(model, {})}

    def update(self, values: Mapping[str, Any], model: str = "") -> dict[str, Any]:
        if not model:
            self.global_ = _trace_update(self.global_, values, None)
            return self.get()
        merged = _trace_update(self.get(model), values, self.global_)
        own = dict(self.models.get(model, {}))
        for key in values:
            if values[key] is None:
                own.pop(key, None)
            else:
                own[key] = merged[key]
        self.models[model] = own
        return self.get(model)


@dataclass
class FrontendSettings:
    log: LogSettings
    trace: TraceSettings


_stores: weakref.WeakKeyDictionary[Any, FrontendSettings] = weakref.WeakKeyDictionary()


def settings_of(server: Any) -> FrontendSettings:
    """The settings store of ``server`` (created on first use from its options)."""
    store = _stores.get(server)
    if store is None:
        verbose = int(getattr(server.options, "log_verbose", 0) or 0)
        store = FrontendSettings(LogSettings(log_verbose_level=verbose), TraceSettings())
        _stores[server] = store
    return store


def check_model(server: Any, model: str) -> None:
    """NOT_FOUND unless ``model`` is known to the repository."""
    if model and model not in server.repository.models:
        raise not_found(f"Request for unknown model: '{model}' is not found")
