"""URL paths of Triton's HTTP/REST API -> (API group, methods, handler, arguments)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

GET = (b"GET",)
POST = (b"POST",)
GET_POST = (b"GET", b"POST")


@dataclass(frozen=True, slots=True)
class Route:
    """A matched path: ``handler`` is an attribute name of :class:`Endpoints`."""

    group: str  # restricted-API group (tritoncore.frontends.restricted_api.GROUPS)
    methods: tuple[bytes, ...]
    handler: str
    args: tuple[Any, ...] = ()


def _version(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 19 else None


def _model_route(model: str, rest: list[str]) -> Route | None:
    version = -1
    if rest and rest[0] == "versions":
        if len(rest) < 2:
            return None
        v = _version(rest[1])
        if v is None:
            return None
        version, rest = v, rest[2:]
    if not rest:
        return Route("metadata", GET, "model_metadata", (model, version))
    tail = "/".join(rest)
    if tail == "infer":
        return Route("inference", POST, "infer", (model, version))
    if tail == "ready":
        return Route("health", GET, "model_ready", (model, version))
    if tail == "config":
        return Route("model-config", GET, "model_config", (model, version))
    if tail == "stats":
        return Route("statistics", GET, "statistics", (model, version))
    if tail == "trace/setting" and version == -1:
        return Route("trace", GET_POST, "trace_setting", (model,))
    return None


def _shm_route(kind: str, rest: list[str]) -> Route | None:
    if rest == ["status"]:
        return Route("shared-memory", GET, f"{kind}_status", ("",))
    if rest == ["unregister"]:
        return Route("shared-memory", POST, f"{kind}_unregister", ("",))
    if len(rest) == 3 and rest[0] == "region" and rest[1]:
        action = rest[2]
        if action == "status":
            return Route("shared-memory", GET, f"{kind}_status", (rest[1],))
        if action in ("register", "unregister"):
            return Route("shared-memory", POST, f"{kind}_{action}", (rest[1],))
    return None


def match(path: str) -> Route | None:
    """The route for a URL path (no query string), None when there is none."""
    if "%" in path:
        path = unquote(path)
    parts = path.split("/")
    if len(parts) < 2 or parts[0] != "" or parts[1] != "v2":
        return None
    rest = parts[2:]
    if rest == [] or rest == [""]:
        return Route("metadata", GET, "server_metadata")
    head = rest[0]
    if head == "models":
        if len(rest) >= 2 and rest[1]:
            if rest[1:] == ["stats"]:
                return Route("statistics", GET, "statistics", ("", -1))
            return _model_route(rest[1], rest[2:])
        return None
    if head == "health" and len(rest) == 2 and rest[1] in ("live", "ready"):
        return Route("health", GET, f"health_{rest[1]}")
    if head == "repository":
        tail = rest[1:]
        if tail and tail[0] not in ("index", "models"):
            tail = tail[1:]  # /v2/repository/<repository name>/...: one namespace here
        if tail == ["index"]:
            return Route("model-repository", POST, "repository_index")
        if len(tail) == 3 and tail[0] == "models" and tail[1] and tail[2] in ("load", "unload"):
            return Route("model-repository", POST, f"repository_{tail[2]}", (tail[1],))
        return None
    if head == "systemsharedmemory":
        return _shm_route("system_shm", rest[1:])
    if head == "cudasharedmemory":
        return _shm_route("cuda_shm", rest[1:])
    if rest == ["trace", "setting"]:
        return Route("trace", GET_POST, "trace_setting", ("",))
    if rest == ["logging"]:
        return Route("logging", GET_POST, "logging")
    return None
