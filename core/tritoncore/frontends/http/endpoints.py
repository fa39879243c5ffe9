"""The handlers of Triton's HTTP/REST endpoints. Each answers through its Exchange."""

from __future__ import annotations

import asyncio
import base64
import binascii
import threading
from typing import TYPE_CHECKING, Any

import orjson

from tritoncore.errors import TritonError, invalid_arg
from tritoncore.frontends.http import content_encoding, infer_codec
from tritoncore.frontends.http.responses import JSON, OCTET, error_body
from tritoncore.frontends.settings import check_model, settings_of
from tritoncore.scheduling.delivery import final_on_loop
from tritoncore.scheduling.request import InferenceResponse

if TYPE_CHECKING:
    from tritoncore.frontends.http.connection import Exchange
    from tritoncore.server import Server

_HEADER_LENGTH = b"inference-header-content-length"


def _int(what: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid_arg(f"'{what}' must be an integer >= {minimum}, got {value!r}")
    return value


class Endpoints:
    """One method per route handler name (see routes.py)."""

    def __init__(self, server: Server, max_input_size: int) -> None:
        self.server = server
        self.max_input_size = max_input_size
        self.loop: asyncio.AbstractEventLoop | None = None  # set by the app
        self.loop_thread = threading.get_ident()  # the event loop's thread

    # -- helpers ---------------------------------------------------------------------------

    def body(self, ex: Exchange) -> bytes:
        """The request body, decompressed per Content-Encoding."""
        encoding = ex.headers.get(b"content-encoding")
        if encoding is None:
            return ex.body
        return content_encoding.decode_body(ex.body, encoding, self.max_input_size)

    def json_body(self, ex: Exchange) -> dict[str, Any]:
        """The body as a JSON object ({} when empty); INVALID_ARG when it is not one."""
        body = self.body(ex)
        if not body.strip():
            return {}
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise invalid_arg(f"failed to parse the request JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise invalid_arg("the request body must be a JSON object")
        return doc

    # -- health and metadata ---------------------------------------------------------------

    def health_live(self, ex: Exchange) -> None:
        ex.reply(200 if self.server.is_live() else 400)

    def health_ready(self, ex: Exchange) -> None:
        ex.reply(200 if self.server.is_ready() else 400)

    def server_metadata(self, ex: Exchange) -> None:
        ex.reply_json(self.server.metadata())

    def model_metadata(self, ex: Exchange, model: str, version: int) -> None:
        ex.reply_json(self.server.model_metadata(model, version))

    def model_config(self, ex: Exchange, model: str, version: int) -> None:
        ex.reply_json(self.server.model_config(model, version))

    def model_ready(self, ex: Exchange, model: str, version: int) -> None:
        if self.server.model_ready(model, version):
            ex.reply(200)
        else:  # 400 and why, as Triton answers (it says only "Model version not ready")
            ex.reply(400, error_body(self.server.repository.not_ready_reason(model, version)))

    def statistics(self, ex: Exchange, model: str, version: int) -> None:
        ex.reply_json(self.server.statistics(model, version))

    # -- inference -------------------------------------------------------------------------

    def infer(self, ex: Exchange, model: str, version: int) -> None:
        server = self.server
        loaded = server.unary_model(model, version)
        raw = ex.headers.get(_HEADER_LENGTH)
        header_length = None
        if raw is not None:
            if not raw.strip().isdigit():
                raise invalid_arg(f"Inference-Header-Content-Length must be a non-negative "
                                  f"integer, got '{raw.decode('latin-1')}'")
            header_length = int(raw)
        decoded = infer_codec.decode(server, loaded, model, self.body(ex), header_length)
        loop = self.loop
        assert loop is not None

        def answer(response: InferenceResponse) -> None:  # on the event loop
            if response.error is not None:
                ex.reply_error(response.error)
                return
            try:
                head, pieces = infer_codec.encode(server, loaded, model, decoded, response)
            except Exception as exc:  # noqa: BLE001 - becomes the response
                ex.reply_error(exc)
                return
            if pieces:
                ex.reply_body(200, OCTET, [head, *pieces],
                              b"Inference-Header-Content-Length: %d\r\n" % len(head))
            else:
                ex.reply_body(200, JSON, [head])

        ex.request = decoded.request
        loaded.submit(decoded.request, final_on_loop(loop, self.loop_thread, answer))

    # -- model repository ------------------------------------------------------------------

    def repository_index(self, ex: Exchange) -> None:
        doc = self.json_body(ex)
        ready = doc.get("ready", False)
        if not isinstance(ready, bool):
            raise invalid_arg(f"'ready' must be a boolean, got {ready!r}")
        ex.reply_json(self.server.repository_index(ready))

    def repository_load(self, ex: Exchange, model: str) -> None:
        params = self.json_body(ex).get("parameters") or {}
        if not isinstance(params, dict):
            raise invalid_arg("'parameters' must be an object")
        config = params.get("config")
        if config is not None and not isinstance(config, str):
            raise invalid_arg("parameter 'config' must be a string holding the model config "
                              "as JSON")
        files: dict[str, bytes] = {}
        for key, value in params.items():
            if key.startswith("file:"):
                if not isinstance(value, str):
                    raise invalid_arg(f"parameter '{key}' must be base64 text")
                try:
                    files[key[len("file:"):]] = base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError):
                    raise invalid_arg(f"parameter '{key}' is not valid base64") from None
        ex.run(lambda: self.server.load_model(model, config, files or None),
               lambda _: ex.reply(200))

    def repository_unload(self, ex: Exchange, model: str) -> None:
        params = self.json_body(ex).get("parameters") or {}
        if not isinstance(params, dict):
            raise invalid_arg("'parameters' must be an object")
        dependents = params.get("unload_dependents", False)
        if not isinstance(dependents, bool):
            raise invalid_arg(f"'unload_dependents' must be a boolean, got {dependents!r}")
        ex.run(lambda: self.server.unload_model(model, dependents), lambda _: ex.reply(200))

    # -- shared memory ---------------------------------------------------------------------

    def system_shm_status(self, ex: Exchange, region: str) -> None:
        ex.reply_json(self.server.system_shm.status(region or None))

    def system_shm_register(self, ex: Exchange, region: str) -> None:
        doc = self.json_body(ex)
        key = doc.get("key")
        if not isinstance(key, str):
            raise invalid_arg("system shared memory registration needs a string 'key'")
        self.server.system_shm.register(region, key, _int("offset", doc.get("offset", 0)),
                                        _int("byte_size", doc.get("byte_size"), 1))
        ex.reply(200)

    def system_shm_unregister(self, ex: Exchange, region: str) -> None:
        self.server.system_shm.unregister(region or None)
        ex.reply(200)

    def cuda_shm_status(self, ex: Exchange, region: str) -> None:
        ex.reply_json(self.server.cuda_shm.status(region or None))

    def cuda_shm_register(self, ex: Exchange, region: str) -> None:
        doc = self.json_body(ex)
        handle = doc.get("raw_handle")
        b64 = handle.get("b64") if isinstance(handle, dict) else None
        if not isinstance(b64, str):
            raise invalid_arg("CUDA shared memory registration needs 'raw_handle': "
                              "{'b64': '<base64 cudaIpcMemHandle_t>'}")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise invalid_arg("'raw_handle.b64' is not valid base64") from None
        self.server.cuda_shm.register(region, raw, _int("device_id", doc.get("device_id", 0)),
                                      _int("byte_size", doc.get("byte_size"), 1))
        ex.reply(200)

    def cuda_shm_unregister(self, ex: Exchange, region: str) -> None:
        self.server.cuda_shm.unregister(region or None)
        ex.reply(200)

    # -- trace and logging -----------------------------------------------------------------

    def trace_setting(self, ex: Exchange, model: str) -> None:
        check_model(self.server, model)
        trace = settings_of(self.server).trace
        if ex.method == b"POST":
            ex.reply_json(trace.update(self.json_body(ex), model))
        else:
            ex.reply_json(trace.get(model))

    def logging(self, ex: Exchange) -> None:
        log = settings_of(self.server).log
        if ex.method == b"POST":
            ex.reply_json(log.update(self.json_body(ex)))
        else:
            ex.reply_json(log.as_json())


__all__ = ["Endpoints", "TritonError"]
