"""Server options: one dataclass with tritonserver's flag names and defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritoncore import loop_poll
from tritoncore.errors import invalid_arg

CONTROL_MODES = ("none", "poll", "explicit")

#: tritoncore extension: alternative spellings users' write-ups use -> Triton's key.
BACKEND_CONFIG_ALIASES: dict[tuple[str, str], str] = {
    ("python", "shm-default-size"): "shm-default-byte-size",
    ("python", "shm-growth-size"): "shm-growth-byte-size",
}
#: Settings given without a backend name apply to every backend (Triton's global settings).
GLOBAL = ""


@dataclass
class ServerOptions:
    """Everything ``tritoncore serve`` can be told; defaults are tritonserver's."""

    model_repositories: list[Path] = field(default_factory=list)
    model_control_mode: str = "none"
    load_models: list[str] = field(default_factory=list)
    repository_poll_secs: float = 15.0
    exit_on_error: bool = True
    strict_readiness: bool = True
    model_load_thread_count: int = 4
    disable_auto_complete_config: bool = False
    model_config_name: str = ""
    server_config: Path | None = None  # tritoncore extension: server-level config.pbtxt
    backend_config: dict[str, dict[str, str]] = field(default_factory=dict)
    allow_client_shm: bool = False
    exit_timeout_secs: float = 30.0
    log_verbose: int = 0
    allow_http: bool = True
    http_address: str = "0.0.0.0"
    http_port: int = 8000
    http_restricted_api: list[str] = field(default_factory=list)  # "<apis>:<key>=<value>"
    http_max_input_size: int = 64 * 1024 * 1024  # bytes of one HTTP request body
    allow_grpc: bool = True
    grpc_address: str = "0.0.0.0"
    grpc_port: int = 8001
    allow_metrics: bool = True
    metrics_address: str = "0.0.0.0"
    metrics_port: int = 8002
    busy_poll_microseconds: int = loop_poll.DEFAULT_US  # tritoncore extension
    extra: dict[str, Any] = field(default_factory=dict)  # options added by plugins


def parse_backend_config(values: list[str]) -> dict[str, dict[str, str]]:
    """``["python,shm-default-byte-size=1048576", "default-max-batch-size=8"]`` -> nested dict.

    Aliases (``shm-default-size``) are rewritten to Triton's key names.
    """
    out: dict[str, dict[str, str]] = {}
    for value in values:
        backend, _, setting = value.rpartition(",") if "," in value else ("", "", value)
        key, sep, val = setting.partition("=")
        if not sep or not key:
            raise invalid_arg(
                f"--backend-config '{value}': expected <backend>,<setting>=<value> "
                "or <setting>=<value>"
            )
        key = BACKEND_CONFIG_ALIASES.get((backend, key), key)
        out.setdefault(backend, {})[key] = val
    return out


def merge_backend_config(
    base: dict[str, dict[str, str]], winner: dict[str, dict[str, str]]
) -> dict[str, dict[str, str]]:
    """``winner``'s settings over ``base``'s, per backend."""
    merged = {b: dict(s) for b, s in base.items()}
    for backend, settings in winner.items():
        merged.setdefault(backend, {}).update(settings)
    return merged
