"""The Python backend: Triton model.py files, one stub process per model instance."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tritoncore import config as cfgmod
from tritoncore.backend import (
    AutoCompleteContext,
    Backend,
    BatchDone,
    InstanceContext,
    Model,
    ModelContext,
    ModelInstance,
)
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.hookspecs import hookimpl
from tritoncore.scheduling.delivery import final_on_loop
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.tensor import Tensor

from tritoncore_python.process import StubDied, StubProcess, log, python_for
from tritoncore_python.stub.arena import ALIGN, Allocator, ArenaFull
from tritoncore_python.stub.channel import Message
from tritoncore_python.stub.wire import EXECUTE, Response

FINAL = 1  # TRITONSERVER_RESPONSE_COMPLETE_FINAL
MiB = 1 << 20
DEFAULTS = {"shm-default-byte-size": 1 * MiB, "shm-growth-byte-size": 1 * MiB,
            "stub-timeout-seconds": 30,
            # tritoncore's own: after answering a batch, a stub polls this long for the next
            # one before it sleeps (0: never). The next request is often one client round trip
            # away; catching it awake saves a sleep, a wake-up and their cold caches (2-vCPU VM,
            # HTTP add_sub: c=1 +45% and p99 -27%, c=2 +20%). The poll yields the CPU to any
            # runnable neighbour, and stops while the next batch mostly came later than this
            # (stub/channel.py PollGate; batched FP32[1024] at c=32: -12% CPU a request).
            # An idle stub the dynamic batcher is holding a batch for is woken at once and
            # polls until that batch is due (ModelInstance.expect); 0 turns that off too.
            "stub-busy-poll-microseconds": 400}
#: an idle stub is woken for a batch the dynamic batcher holds only when it is due this soon
EXPECT_WITHIN_NS = 2_000_000
ENV_PARAM = "EXECUTION_ENV_PATH"
MODEL_DIR_VAR = "$$TRITON_MODEL_DIRECTORY"
_LEVELS = {"INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR,
           "VERBOSE": logging.DEBUG}


def _error(error: tuple[int, str] | None, where: str = "") -> TritonError | None:
    if not error:
        return None
    code, message = error
    try:
        kind = ErrorCode(code)
    except ValueError:
        kind = ErrorCode.INTERNAL
    return TritonError(kind, f"{where}{message}")


class Settings:
    """The backend's settings (``--backend-config=python,key=value``), Triton's key names."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        def number(key: str, minimum: int = 1) -> int:
            try:
                value = int(raw.get(key, DEFAULTS[key]))
            except ValueError:
                raise TritonError(ErrorCode.INVALID_ARG,
                                  f"--backend-config=python,{key}: expected an integer, got "
                                  f"'{raw[key]}'") from None
            if value < minimum:
                raise TritonError(ErrorCode.INVALID_ARG,
                                  f"--backend-config=python,{key} must be >= {minimum}, got "
                                  f"{value}")
            return value

        self.shm_size = number("shm-default-byte-size")
        self.shm_growth = number("shm-growth-byte-size")
        self.stub_timeout = float(number("stub-timeout-seconds"))
        self.busy_poll_us = number("stub-busy-poll-microseconds", minimum=0)
        self.prefix = raw.get("shm-region-prefix-name", "tritoncore_python_")


class Environments:
    """EXECUTION_ENV_PATH: directories used as they are, archives unpacked once."""

    def __init__(self) -> None:
        self.unpacked: dict[str, str] = {}

    def python(self, config: Any, model_dir: Path) -> str:
        param = config.parameters.get(ENV_PARAM)
        path = param.string_value.replace(MODEL_DIR_VAR, str(model_dir)) if param else ""
        if path and os.path.isfile(path):
            path = self._unpack(path)
        return python_for(path)

    def _unpack(self, archive: str) -> str:
        if archive not in self.unpacked:
            target = tempfile.mkdtemp(prefix="tritoncore_env_")
            try:
                with tarfile.open(archive) as tar:
                    tar.extractall(target, filter="data")
            except (tarfile.TarError, OSError) as exc:
                raise TritonError(ErrorCode.INVALID_ARG,
                                  f"{ENV_PARAM} '{archive}' is not a readable environment "
                                  f"archive: {exc}") from None
            self.unpacked[archive] = target
        return self.unpacked[archive]


class PythonInstance(ModelInstance):
    """One stub process running one TritonPythonModel."""

    _ids = itertools.count(1)
    # The next requests wait in the stub's socket, not for a round trip; 4 lets the stub run
    # four concurrent clients' requests back to back without sleeping in between (2-core VM,
    # HTTP add_sub at concurrency 4: +20% over a depth of 2). The dynamic batcher uses 2.
    pipeline_depth = 4

    def __init__(self, ctx: InstanceContext, backend: PythonBackend, python: str) -> None:
        self.ctx = ctx
        self.backend = backend
        self.python = python
        self.label = f"model '{ctx.model.name}' instance '{ctx.name}'"
        self.decoupled = ctx.model.decoupled
        self.stub: StubProcess | None = None
        self.open: dict[int, InferenceRequest] = {}
        self.inputs_of: dict[int, int] = {}  # rid -> its allocation in the input arena
        self.release: list[int] = []  # output arena offsets the stub may reuse
        self.restarting: asyncio.Task[None] | None = None
        self.failed: TritonError | None = None
        self.copied_in = 0  # input bytes copied into the arena (client shm inputs are not)
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        s = self.backend.settings
        stub = StubProcess(self.label, self._on_message)
        await stub.start(self.python, s.shm_size, s.shm_growth, s.prefix)
        model = self.ctx.model
        kind = self.ctx.kind.removeprefix("KIND_")
        args = {"model_config": cfgmod.to_json(model.config), "model_instance_kind": kind,
                "model_instance_name": self.ctx.name,
                "model_instance_device_id": str(self.ctx.device_id),
                "model_repository": str(model.model_dir), "model_version": str(model.version),
                "model_name": model.name}
        try:
            reply = await stub.call({"op": "init", "args": args, "busy_poll_us": s.busy_poll_us,
                                     "model_path": str(model.model_file)}, s.stub_timeout)
        except TritonError:
            await stub.stop(1.0)
            raise
        if reply["op"] != "ready":
            await stub.stop(s.stub_timeout)
            raise TritonError(ErrorCode.INTERNAL if reply["op"] == "error" else ErrorCode.INVALID_ARG,
                              f"{self.label}: initialize failed: {reply['message']}")
        self.stub = stub
        self.failed = None

    async def _running(self) -> StubProcess:
        if self.restarting is not None:
            await asyncio.shield(self.restarting)
        if self.stub is None or self.failed is not None:
            raise self.failed or TritonError(ErrorCode.UNAVAILABLE, f"{self.label} is not running")
        return self.stub

    def _died(self, error: StubDied) -> None:
        """Fail everything the dead stub owed, then restart it in the background."""
        for rid in list(self.open):
            self._close(rid, error)
        if self.stub is not None:
            self.stub.close()
            self.stub = None
        self.release = []
        if self.restarting is None or self.restarting.done():
            log.error("%s; restarting it", error.message)
            self.restarting = asyncio.get_running_loop().create_task(self._restart())

    async def _restart(self) -> None:
        try:
            await self.start()
            log.info("%s: stub restarted", self.label)
        except TritonError as exc:
            self.failed = TritonError(ErrorCode.UNAVAILABLE,
                                      f"{self.label}: the stub could not be restarted: {exc.message}")
            log.error("%s", self.failed.message)

    def ready(self) -> bool:
        return self.failed is None

    async def finalize(self) -> None:
        if self.restarting is not None:
            await asyncio.gather(self.restarting, return_exceptions=True)
        if self.stub is not None:
            await self.stub.stop(self.backend.settings.stub_timeout)
            self.stub = None

    # -- execute -----------------------------------------------------------------------------
    async def execute(self, requests: list[InferenceRequest]) -> list[InferenceResponse] | None:
        """The awaitable form of :meth:`submit` (the core calls ``submit``)."""
        future: asyncio.Future[list[InferenceResponse] | None] = \
            asyncio.get_running_loop().create_future()

        def done(result: list[InferenceResponse] | None, error: BaseException | None) -> None:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        self.submit(requests, done)
        return await future

    def submit(self, requests: list[InferenceRequest], done: BatchDone) -> None:
        """Send the batch to the stub and return; ``done`` gets the responses (None when the
        model is decoupled or answered through its senders) or the error, on the loop."""
        stub = self.stub
        if stub is None or self.failed is not None:  # restarting, or failed to
            asyncio.get_running_loop().create_task(self._submit_when_running(requests, done))
            return
        assert stub.inputs is not None
        batch = []
        rids = []
        try:
            for request in requests:
                rid = next(self._ids)
                rids.append(rid)
                self.open[rid] = request
                request.cancelled.on_set(functools.partial(self._cancelled, rid))
                inputs = self._write_inputs(stub.inputs, rid, request)
                batch.append((rid, request.id, inputs, list(request.requested_outputs or ()),
                              request.correlation_id, request.flags, request.timeout_us,
                              request.parameters))
        except ArenaFull as exc:
            for rid in rids:
                self._free_inputs(rid)
                self.open.pop(rid, None)
            done(None, TritonError(ErrorCode.UNAVAILABLE, f"{self.label}: {exc}"))
            return
        message = (EXECUTE, rids[0], stub.inputs.arena.size, batch, self.release)
        self.release = []
        try:
            stub.submit(message, lambda reply: self._executed(rids, reply, done))
        except StubDied as exc:  # it died while idle: nothing was waiting to notice
            self._executed(rids, exc, done)

    def expect(self, at_ns: int) -> None:
        """Wake an idle stub now, so it is polling, awake and warm, not asleep, when the batch
        comes at ``at_ns`` (the dynamic batcher's queue delay hides the wake-up). A stub with
        a batch in hand is left alone (it would spin instead of making way for the rest), and
        so is one whose batch is further off than ``EXPECT_WITHIN_NS`` (a long spin)."""
        stub = self.stub
        if not self.open and self.backend.settings.busy_poll_us and stub is not None and \
                stub.dead is None and self.failed is None and \
                at_ns - time.monotonic_ns() <= EXPECT_WITHIN_NS:
            stub.send({"op": "expect", "at": at_ns})

    def _write_inputs(self, arena: Allocator, rid: int,
                      request: InferenceRequest) -> list[tuple[Any, ...]]:
        """Copy a request's inputs into one allocation of the input arena (an input already in
        a client's shm region is mapped by the stub instead); their descriptors, in order."""
        plan: list[tuple[Any, Any, int, int]] = []  # tensor, wire bytes (None: shm), size, at
        total = 0
        for t in request.inputs.values():
            if t.shm_origin is not None and t.datatype != "BYTES":
                plan.append((t, None, t.byte_size, 0))
                continue
            wire = t.to_wire()
            nbytes = len(wire) if isinstance(wire, bytes) else wire.nbytes
            plan.append((t, wire, nbytes, total))
            total += -(-nbytes // ALIGN) * ALIGN
        base = 0
        if total:
            base = arena.alloc(total)
            self.inputs_of[rid] = base
        view = arena.arena.view
        inputs: list[tuple[Any, ...]] = []
        for t, wire, nbytes, at in plan:
            if wire is None:  # the stub maps the client's region itself
                key, offset = t.shm_origin
                inputs.append((t.name, t.datatype, t.shape, offset, nbytes, key))
                continue
            view[base + at : base + at + nbytes] = wire
            inputs.append((t.name, t.datatype, t.shape, base + at, nbytes, None))
            self.copied_in += nbytes
        return inputs

    async def _submit_when_running(self, requests: list[InferenceRequest], done: BatchDone) -> None:
        try:
            await self._running()
        except TritonError as exc:
            done(None, exc)
            return
        self.submit(requests, done)

    def _executed(self, rids: list[int], reply: Message | TritonError,
                  done: BatchDone) -> None:
        """The stub's answer to one execute: EXECUTED, an "error" (the stub could not run
        it), or the error that ended the stub."""
        if isinstance(reply, StubDied):
            self._died(reply)
            done(None, reply)
            return
        if type(reply) is tuple:
            _, _, responses, out_size, error = reply
        else:
            assert isinstance(reply, dict)
            responses, out_size, error = None, 0, (reply["code"], reply["message"])
        failure = _error(error, f"{self.label}: ")
        if failure is not None:
            for rid in rids:
                self._close(rid, failure)
            done(None, failure)
            return
        if responses is None:  # decoupled, or sent through the response sender
            done(None, None)
            return
        assert self.stub is not None and self.stub.outputs is not None
        self.stub.outputs.ensure(out_size)
        out = [self._response(body) for body in responses]
        try:
            done(out, None)  # the answers first; the bookkeeping after they are on their way
        finally:
            for rid in rids:
                self._free_inputs(rid)
                self.open.pop(rid, None)

    def _response(self, body: Response) -> InferenceResponse:
        """Copy a response's outputs out of the output arena (then the stub may reuse it)."""
        assert self.stub is not None and self.stub.outputs is not None
        view = self.stub.outputs.view
        outputs, alloc, error, parameters = body
        if alloc is not None:  # the one allocation holding all its outputs, released once
            self.release.append(alloc)
        return InferenceResponse(
            outputs=[Tensor.from_wire(name, datatype, shape, bytes(view[at : at + nbytes]))
                     for name, datatype, shape, at, nbytes in outputs],
            error=_error(error), parameters=parameters or {})

    def _cancelled(self, rid: int) -> None:
        """Request ``rid`` was cancelled (on any thread): tell the stub, from the loop."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self._send_cancel, rid)

    def _send_cancel(self, rid: int) -> None:
        if rid in self.open and self.stub is not None and self.stub.dead is None:
            self.stub.send({"op": "cancel", "rid": rid})

    def _free_inputs(self, rid: int) -> None:
        offset = self.inputs_of.pop(rid, None)
        if offset is not None and self.stub is not None and self.stub.inputs is not None:
            self.stub.inputs.free(offset)

    def _close(self, rid: int, error: TritonError) -> None:
        request = self.open.pop(rid, None)
        self._free_inputs(rid)
        if request is not None and request.sender is not None:
            request.sender.fail(error)

    # -- messages the stub sends on its own --------------------------------------------------
    def _on_message(self, msg: dict[str, Any]) -> None:
        op = msg["op"]
        if op == "response":
            self._on_response(msg)
        elif op == "bls" and not msg["decoupled"]:
            self.backend.bls_unary(self, msg)
        elif op in ("bls", "control"):
            asyncio.get_running_loop().create_task(self.backend.serve_call(self, msg))
        elif op == "log":
            log.log(_LEVELS.get(msg["level"], logging.INFO), "%s: %s", self.label, msg["message"])
        elif op == "metric":
            self.backend.metrics[(msg["family"], tuple(sorted(msg["labels"].items())))] = msg

    def _on_response(self, msg: dict[str, Any]) -> None:
        rid = msg["rid"]
        request = self.open.get(rid)
        final = bool(msg["flags"] & FINAL)
        if request is None or request.sender is None:
            return
        assert self.stub is not None and self.stub.outputs is not None
        self.stub.outputs.ensure(msg["out_size"])
        response = self._response(msg["response"]) if msg["response"] is not None else None
        if self.release:
            self.stub.send({"op": "release", "offsets": self.release})
            self.release = []
        try:
            request.sender.send(response, final=final)
        except TritonError as exc:
            log.warning("%s: %s", self.label, exc.message)
        if final:
            self.open.pop(rid, None)
            self._free_inputs(rid)


class PythonModel(Model):
    def __init__(self, ctx: ModelContext, backend: PythonBackend) -> None:
        self.ctx = ctx
        self.backend = backend
        if not ctx.model_file.is_file():
            raise TritonError(ErrorCode.INVALID_ARG,
                              f"model '{ctx.name}': {ctx.model_file} does not exist; a Python model "
                              f"needs <version>/{ctx.config.default_model_filename or 'model.py'}")
        self.python = backend.environments.python(ctx.config, ctx.model_dir)

    async def create_instance(self, ctx: InstanceContext) -> ModelInstance:
        instance = PythonInstance(ctx, self.backend, self.python)
        await instance.start()
        return instance


class PythonBackend(Backend):
    """``backend: "python"``."""

    name = "python"
    default_model_filename = "model.py"

    def __init__(self) -> None:
        self.settings = Settings({})
        self.environments = Environments()
        self.metrics: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}

    def initialize(self, backend_config: Mapping[str, str]) -> None:
        self.settings = Settings(backend_config)

    async def auto_complete_config(self, ctx: AutoCompleteContext) -> None:
        """Run the model's ``auto_complete_config`` in a short-lived stub."""
        filename = ctx.config.default_model_filename or self.default_model_filename
        versions = sorted((int(p.name) for p in ctx.model_dir.iterdir()
                           if p.is_dir() and p.name.isdigit()), reverse=True)
        path = next((ctx.model_dir / str(v) / filename for v in versions
                     if (ctx.model_dir / str(v) / filename).is_file()), None)
        if path is None:
            return  # load_model reports the missing file
        label = f"model '{ctx.name}' (auto-complete)"
        stub = StubProcess(label, lambda msg: None)
        s = self.settings
        await stub.start(self.environments.python(ctx.config, ctx.model_dir), s.shm_size,
                         s.shm_growth, s.prefix)
        try:
            reply = await stub.call({"op": "autocomplete", "model_path": str(path),
                                     "config": cfgmod.to_json_dict(ctx.config)}, s.stub_timeout)
        finally:
            await stub.stop(s.stub_timeout, finalize=False)
        if reply["op"] != "config":
            raise TritonError(ErrorCode.INVALID_ARG,
                              f"{label}: auto_complete_config failed: {reply['message']}")
        ctx.config.CopyFrom(cfgmod.parse_model_config_json(reply["config"], label))

    def load_model(self, ctx: ModelContext) -> Model:
        return PythonModel(ctx, self)

    # -- BLS and model control from a stub ---------------------------------------------------
    async def serve_call(self, instance: PythonInstance, msg: dict[str, Any]) -> None:
        server = instance.ctx.model.server
        reply: dict[str, Any] = {"op": "reply", "call": msg["call"]}
        try:
            if server is None:
                raise TritonError(ErrorCode.UNAVAILABLE, "this model runs outside a server")
            if msg["op"] == "bls":
                reply["responses"], reply["release"] = await self._bls(instance, server, msg)
            else:
                reply["result"] = await self._control(server, msg)
        except TritonError as exc:
            reply["error"] = (exc.code.value, exc.message)
            reply.setdefault("responses", [{"error": (exc.code.value, exc.message)}])
        _reply(instance, reply)

    def bls_unary(self, instance: PythonInstance, msg: dict[str, Any]) -> None:
        """A BLS request that wants one response: submitted now, its response relayed to the
        stub from the delivery callback (no task or future per call)."""
        reply: dict[str, Any] = {"op": "reply", "call": msg["call"]}

        def answer(response: InferenceResponse) -> None:
            reply["responses"] = [_encode_inline(response)]
            _reply(instance, reply)

        deliver = final_on_loop(asyncio.get_running_loop(), threading.get_ident(), answer)
        try:
            server = instance.ctx.model.server
            if server is None:
                raise TritonError(ErrorCode.UNAVAILABLE, "this model runs outside a server")
            request, reply["release"] = self._bls_request(instance, msg)
            server.unary_model(request.model_name, request.model_version).submit(request,
                                                                                 deliver)
        except TritonError as exc:
            reply["error"] = (exc.code.value, exc.message)
            reply["responses"] = [{"error": (exc.code.value, exc.message)}]
            _reply(instance, reply)

    async def _bls(self, instance: PythonInstance, server: Any,
                   msg: dict[str, Any]) -> tuple[list[dict[str, Any]], list[int]]:
        """A decoupled BLS request: each response relayed as it comes (replies with ``more``
        set), the final one returned."""
        request, release = self._bls_request(instance, msg)
        try:
            async for response in server.infer_stream(request):
                if response.final:
                    return [_encode_inline(response)], release
                _reply(instance, {"op": "reply", "call": msg["call"], "more": True,
                                  "responses": [_encode_inline(response)], "release": release})
                release = []
        except TritonError as exc:
            return [{"error": (exc.code.value, exc.message)}], release
        return [], release  # not reached: a stream ends with its final response

    @staticmethod
    def _bls_request(instance: PythonInstance,
                     msg: dict[str, Any]) -> tuple[InferenceRequest, list[int]]:
        """The request a stub's BLS message describes, and the arena allocations of its
        inputs (copied here: the stub may reuse them once told)."""
        stub = instance.stub
        assert stub is not None and stub.outputs is not None
        stub.outputs.ensure(msg["out_size"])
        view = stub.outputs.view
        inputs = {}
        release = []
        for name, datatype, shape, offset, nbytes in msg["inputs"]:
            inputs[name] = Tensor.from_buffer(name, datatype, tuple(shape),
                                              bytes(view[offset : offset + nbytes]))
            if nbytes:
                release.append(offset)
        request = InferenceRequest(msg["model_name"], inputs, model_version=int(msg["model_version"]),
                                   id=msg["id"], requested_outputs=msg["requested"] or None,
                                   parameters=msg["parameters"],
                                   correlation_id=msg["correlation_id"], flags=msg["flags"],
                                   timeout_us=msg["timeout"])
        return request, release

    async def _control(self, server: Any, msg: dict[str, Any]) -> Any:
        action, name = msg["action"], msg["model_name"]
        if action == "load":
            await server.load_model(name, msg.get("config") or None, msg.get("files") or None)
        elif action == "unload":
            await server.unload_model(name, msg.get("unload_dependents", False))
        else:
            version = int(msg.get("version") or -1)
            return server.model_ready(name, version)
        return None


def _reply(instance: PythonInstance, reply: dict[str, Any]) -> None:
    if instance.stub is not None and instance.stub.dead is None:
        instance.stub.send(reply)


def _encode_inline(response: InferenceResponse) -> dict[str, Any]:
    # bytearray: the caller's arrays are writeable, as Triton's BLS outputs are
    body: dict[str, Any] = {"outputs": [(t.name, t.datatype, t.shape, bytearray(t.to_wire()))
                                        for t in response.outputs]}
    if response.error is not None:
        body["error"] = (response.error.code.value, response.error.message)
    if response.parameters:
        body["parameters"] = response.parameters
    return body


def metrics_text(metrics: Mapping[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]]) -> str:
    """Prometheus text of the models' ``pb_utils.MetricFamily`` metrics."""
    families: dict[str, list[dict[str, Any]]] = {}
    for (family, _), msg in sorted(metrics.items()):
        families.setdefault(family, []).append(msg)
    lines = []
    for family, msgs in families.items():
        lines += [f"# HELP {family} {msgs[0]['description']}",
                  f"# TYPE {family} {msgs[0]['kind']}"]  # counter, gauge or histogram
        for msg in msgs:
            labels = [f'{k}="{v}"' for k, v in sorted(msg["labels"].items())]
            histogram = msg.get("histogram")
            if histogram is None:
                lines.append(_sample(family, labels, msg["value"]))
                continue
            for bound, count in zip(histogram["buckets"], histogram["counts"]):
                lines.append(_sample(f"{family}_bucket", [*labels, f'le="{_number(bound)}"'],
                                     count))
            lines += [_sample(f"{family}_bucket", [*labels, 'le="+Inf"'], histogram["count"]),
                      _sample(f"{family}_sum", labels, msg["value"]),
                      _sample(f"{family}_count", labels, histogram["count"])]
    return "\n".join(lines)


def _sample(name: str, labels: list[str], value: float) -> str:
    return f"{name}{{{','.join(labels)}}} {_number(value)}" if labels else \
        f"{name} {_number(value)}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@hookimpl
def tritoncore_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(PythonBackend)


@hookimpl
def tritoncore_metrics_text(server: Any) -> str | None:
    backend = server.repository.backends.get(PythonBackend.name)
    return metrics_text(backend.metrics) if backend is not None and backend.metrics else None
