"""Loggers for backends, named so ``--log-verbose`` and logging config reach them."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any


def backend_logger(backend: str) -> logging.Logger:
    """``tritoncore.backend.<name>``: a child of the server's logger hierarchy."""
    return logging.getLogger(f"tritoncore.backend.{backend}")


class ModelLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every message with the model (and instance) it concerns."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return f"{self.extra['where']}: {msg}", kwargs  # type: ignore[index]


def model_logger(backend: str, model: str, instance: str = "") -> ModelLogger:
    where = f"model '{model}'" + (f" instance '{instance}'" if instance else "")
    return ModelLogger(backend_logger(backend), {"where": where})
