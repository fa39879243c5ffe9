"""The stub's loop: messages in, model calls, responses out."""

from __future__ import annotations

import asyncio
import collections
import importlib.util
import inspect
import itertools
import json
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from tritoncore import dtypes, heap

from tritoncore_python.stub import pb_utils as pb
from tritoncore_python.stub.arena import ALIGN, Allocator, Arena, ArenaFull, ClientRegions
from tritoncore_python.stub.channel import BlockingChannel, Message, PollGate
from tritoncore_python.stub.wire import (EXECUTE, EXECUTED, Response, failed, from_bytes,
                                         host_array, to_bytes)

# pb_utils is importable under Triton's module name inside the stub.
sys.modules.setdefault("triton_python_backend_utils", pb)

_FIXED_SIZE = {t.name: t for t in dtypes.TABLE if not t.is_bytes}
#: told a batch is coming, the stub polls for it until this long after it is due
EXPECT_SLACK_NS = 200_000
_BYTES = dtypes.by_name("BYTES")


def error_tuple(exc: BaseException) -> tuple[int, str]:
    """(code, message) of anything a model raised or returned."""
    if isinstance(exc, pb.TritonError) and not isinstance(exc, pb.TritonModelException):
        return exc.code(), exc.message()
    return pb.TritonError.INTERNAL, f"{type(exc).__name__}: {exc}"


class ReplyStream:
    """The replies to one call answered in several (a decoupled BLS request), in order."""

    def __init__(self) -> None:
        self.replies: collections.deque[dict[str, Any]] = collections.deque()
        self.arrived = threading.Event()


class Runtime:
    """What pb_utils reaches the server through (``pb_utils._RUNTIME``)."""

    def __init__(self, channel: BlockingChannel, inputs: Arena, outputs: Allocator) -> None:
        self.channel = channel
        self.inputs = inputs
        self.outputs = outputs
        self.out_lock = threading.Lock()
        self.model_dir = ""
        self.model_name = ""
        self.reply_poll_ns = 0
        #: the config's outputs: what a request that names none asks for (as in Triton)
        self.output_names: list[str] = []
        self._all_outputs: frozenset[str] = frozenset()
        self.cancelled_ids: set[int] = set()
        self._calls = itertools.count(1)
        self._waiting: dict[int, Any] = {}  # call id -> [Event, result] or asyncio.Future
        self.loop = asyncio.new_event_loop()
        self.loop.add_reader(channel.sock.fileno(), self._pump)
        self.read_lock = threading.Lock()
        self.client_shm = ClientRegions()
        self.backlog: collections.deque[Message] = collections.deque()
        self.expected_ns = 0  # when the server expects to send the next batch (monotonic)

    # -- tensors -----------------------------------------------------------------------------
    def write_tensors(self, tensors: list[pb.Tensor]) -> list[tuple[Any, ...]]:
        """Each tensor in its own allocation (BLS inputs: the server releases each)."""
        out = []
        with self.out_lock:
            for t in tensors:
                datatype = t.datatype
                data = to_bytes(host_array(t._data), datatype)
                offset, nbytes = self.outputs.write(data)
                out.append((t.name(), datatype, tuple(t.shape()), offset, nbytes))
        return out

    def declare_outputs(self, names: list[str]) -> None:
        self.output_names = names
        self._all_outputs = frozenset(names)

    def wanted(self, requested: Sequence[str]) -> frozenset[str] | set[str] | None:
        """The outputs a response to a request asking for ``requested`` carries: Triton's
        stub drops the others (an output the config does not declare, one not asked for);
        None: keep all (a config without outputs)."""
        if requested and requested is not self.output_names:
            return set(requested)
        return self._all_outputs or None

    def write_outputs(self, tensors: list[pb.Tensor], wanted: Collection[str] | None = None,
                      ) -> tuple[list[tuple[Any, ...]], int | None]:
        """A response's outputs (those in ``wanted``), copied into ONE allocation of the
        output arena: their descriptors, and the allocation's offset (None when they hold no
        bytes), which the server releases once it has copied them out."""
        plan: list[tuple[str, str, Any, Any, int, int]] = []  # name, type, shape, data, size, at
        total = 0
        for t in tensors:
            exact = type(t) is pb.Tensor  # not a subclass: its fields can be read directly
            if wanted is not None and (t._name if exact else t.name()) not in wanted:
                continue
            data = t._data if exact else None
            dt = t._dt if exact else None
            if (dt is not None and dt is not _BYTES and type(data) is np.ndarray
                    and data.flags.c_contiguous and data.dtype.byteorder != ">"):
                # a numpy tensor already in wire layout: copied as it is
                nbytes = data.nbytes
                plan.append((t._name, dt.name, data.shape, data, nbytes, total))
            else:
                datatype = t.datatype
                wire = to_bytes(host_array(t._data), datatype)
                nbytes = len(wire) if isinstance(wire, bytes) else wire.nbytes
                plan.append((t.name(), datatype, tuple(t.shape()), wire, nbytes, total))
            total += (nbytes + ALIGN - 1) & -ALIGN
        if not total:
            return [(name, datatype, shape, 0, 0) for name, datatype, shape, _, _, _ in plan], None
        with self.out_lock:
            base = self.outputs.alloc(total)
            target = self.outputs.arena.map  # covers this allocation even if the arena grows
        assert target is not None
        out = []
        try:
            for name, datatype, shape, wire, nbytes, at in plan:
                if nbytes:
                    target[base + at : base + at + nbytes] = wire
                    out.append((name, datatype, shape, base + at, nbytes))
                else:
                    out.append((name, datatype, shape, 0, 0))
        except BaseException:
            self.free((base,))
            raise
        return out, base

    def read_tensors(self, descriptors: list[tuple[Any, ...]]) -> list[pb.Tensor]:
        """Views of the inputs: in the input arena, or in a client's own shm object."""
        tensors = []
        arena = self.inputs
        for name, datatype, shape, offset, nbytes, key in descriptors:
            dt = _FIXED_SIZE.get(datatype)
            if dt is not None and not key and arena.map is not None:
                # the usual case: a view of the arena, made in one call (the size checked)
                try:
                    array = np.ndarray(shape, dt.numpy, arena.map, offset)
                except (TypeError, ValueError):
                    pass  # from_bytes below raises its own error
                else:
                    if array.nbytes == nbytes:
                        tensors.append(pb.Tensor._wrap(name, array, dt))
                        continue
            view = self.client_shm.view(key, offset, nbytes) if key else arena.view[offset : offset + nbytes]
            tensors.append(pb.Tensor(name, from_bytes(view, datatype, tuple(shape)), datatype))
        return tensors

    def free(self, offsets: Iterable[int] | None) -> None:
        if offsets:
            with self.out_lock:
                for offset in offsets:
                    self.outputs.free(offset)

    def encode_response(self, response: Any, requested: Sequence[str] = ()) -> Response:
        """A response to a request that asked for ``requested`` outputs, for the server."""
        if not isinstance(response, pb.InferenceResponse):
            return failed(pb.TritonError.INTERNAL,
                          f"expected an InferenceResponse, got {type(response).__name__}")
        try:
            outputs, alloc = self.write_outputs(response.output_tensors(),
                                                self.wanted(requested))
        except ArenaFull as exc:
            return failed(pb.TritonError.UNAVAILABLE, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bad output becomes this response's error
            return failed(*error_tuple(exc))
        error = response.error()
        return (outputs, alloc, None if error is None else error_tuple(error),
                response._parameters or None)

    # -- what pb_utils calls -----------------------------------------------------------------
    def send_response(self, rid: int, response: Any, flags: int, requested: Sequence[str]) -> None:
        body = self.encode_response(response, requested) if response is not None else None
        self.channel.send({"op": "response", "rid": rid, "response": body, "flags": flags,
                           "out_size": self.outputs.arena.size})

    def cancelled(self, rid: int) -> bool:
        """Whether the server cancelled ``rid``; reads what has arrived, so a model polling
        this inside a long, blocking ``execute`` sees the cancellation."""
        if rid not in self.cancelled_ids:
            self._pump()
        return rid in self.cancelled_ids

    def log(self, level: str, message: str) -> None:
        self.channel.send({"op": "log", "level": level, "message": message})

    def metric(self, family: Any, labels: dict[str, str], value: float,
               histogram: dict[str, Any] | None = None) -> None:
        msg = {"op": "metric", "family": family._name, "description": family._description,
               "kind": pb._KIND_NAMES[family._kind], "labels": labels, "value": value}
        if histogram is not None:
            msg["histogram"] = histogram
        self.channel.send(msg)

    # -- receiving: whichever thread needs progress reads (one at a time) ---------------------
    def dispatch(self, msg: Message) -> None:
        """Handle a message at once, or keep it for the main loop (model operations)."""
        if isinstance(msg, tuple):  # an EXECUTE
            self.free(msg[4])
            self.backlog.append(msg)
            return
        op = msg["op"]
        if op == "reply":
            self.free(msg.get("release"))
            slot = self._waiting[msg["call"]] if msg.get("more") else self._waiting.pop(msg["call"])
            if isinstance(slot, ReplyStream):
                slot.replies.append(msg)
                slot.arrived.set()
            elif isinstance(slot, list):
                slot[1] = msg
                slot[0].set()
            elif slot.get_loop() is self.loop:
                slot.set_result(msg)
            else:
                slot.get_loop().call_soon_threadsafe(slot.set_result, msg)
        elif op == "release":
            self.free(msg["offsets"])
        elif op == "cancel":
            self.cancelled_ids.add(msg["rid"])
        elif op == "expect":
            if self.reply_poll_ns:  # polling allowed (busy poll on)
                self.expected_ns = max(self.expected_ns, msg["at"])
        else:
            self.free(msg.pop("release", None))
            self.backlog.append(msg)

    def receive(self, spin_ns: int = 0) -> None:
        """Read and dispatch one message (the caller holds ``read_lock``)."""
        msg = self.channel.recv(spin_ns=spin_ns)
        if msg is None:
            os._exit(0)  # the server closed the channel: nothing left to do
        self.dispatch(msg)

    def wait(self, event: threading.Event) -> None:
        """Block until ``event`` is set, reading the channel when no other thread is. While
        no other work waits for this stub, it polls ``reply_poll_ns`` before sleeping (a BLS
        reply is a server round trip away); with work queued the CPUs are better left to
        the processes producing the reply."""
        while not event.is_set():
            if self.read_lock.acquire(blocking=False):
                try:
                    while not event.is_set():
                        self.receive(0 if self.backlog else self.reply_poll_ns)
                finally:
                    self.read_lock.release()
            else:
                event.wait(0.002)

    def next_operation(self, spin_ns: int = 0) -> Message:
        """The next initialize/execute/finalize/autocomplete message for the main thread,
        polled for ``spin_ns`` before the stub sleeps (and, once the server said a batch is
        expected, until it is due)."""
        while not self.backlog:
            with self.read_lock:
                self.receive(spin_ns)
            # after an "expect": poll until that batch is due, and a little longer (awake and
            # warm when it comes; sleeping until shortly before gave back most of the gain)
            spin_ns = max(0, self.expected_ns + EXPECT_SLACK_NS - time.monotonic_ns())
        return self.backlog.popleft()

    def _pump(self) -> None:
        """Event-loop reader while an async model runs: dispatch whatever has arrived."""
        if not self.read_lock.acquire(blocking=False):
            return
        try:
            while (msg := self.channel.recv(wait=False)) is not None:
                self.dispatch(msg)
            if self.channel.closed:
                os._exit(0)
        finally:
            self.read_lock.release()

    def _call(self, message: dict[str, Any]) -> Any:
        call = next(self._calls)
        slot: list[Any] = [threading.Event(), None]
        self._waiting[call] = slot
        self.channel.send({**message, "call": call, "out_size": self.outputs.arena.size})
        self.wait(slot[0])
        return slot[1]

    async def _call_async(self, message: dict[str, Any]) -> Any:
        call = next(self._calls)
        future = asyncio.get_running_loop().create_future()
        self._waiting[call] = future
        self.channel.send({**message, "call": call, "out_size": self.outputs.arena.size})
        return await future

    def _bls_message(self, request: pb.InferenceRequest, decoupled: bool) -> dict[str, Any]:
        return {"op": "bls", "decoupled": decoupled, "model_name": request._model_name,
                "model_version": request._model_version, "id": request._request_id,
                "correlation_id": request._correlation_id, "flags": request._flags,
                "timeout": request._timeout, "parameters": request._parameters,
                "requested": request._requested, "inputs": self.write_tensors(request._inputs)}

    @staticmethod
    def _bls_responses(reply: dict[str, Any]) -> list[pb.InferenceResponse]:
        responses = []
        for body in reply["responses"]:
            outputs = [pb.Tensor(n, from_bytes(data, dt, tuple(shape)), dt)
                       for n, dt, shape, data in body.get("outputs", [])]
            error = body.get("error")
            responses.append(pb.InferenceResponse(
                outputs, pb.TritonError(error[1], error[0]) if error else None,
                body.get("parameters")))
        return responses

    def _bls_result(self, reply: dict[str, Any]) -> pb.InferenceResponse:
        responses = self._bls_responses(reply)
        return responses[0] if responses else pb.InferenceResponse(
            error=pb.TritonError("the BLS request got no response"))

    def bls(self, request: pb.InferenceRequest) -> pb.InferenceResponse:
        return self._bls_result(self._call(self._bls_message(request, False)))

    async def bls_async(self, request: pb.InferenceRequest) -> pb.InferenceResponse:
        return self._bls_result(await self._call_async(self._bls_message(request, False)))

    def bls_stream(self, request: pb.InferenceRequest) -> Iterator[pb.InferenceResponse]:
        """A decoupled BLS request: sent now; its responses yielded as the server relays
        them (a reply with ``more`` set is one of several)."""
        call = next(self._calls)
        stream = ReplyStream()
        self._waiting[call] = stream
        self.channel.send({**self._bls_message(request, True), "call": call,
                           "out_size": self.outputs.arena.size})
        return self._stream_responses(stream)

    def _stream_responses(self, stream: ReplyStream) -> Iterator[pb.InferenceResponse]:
        while True:
            while not stream.replies:
                self.wait(stream.arrived)
                stream.arrived.clear()  # items are checked again after the clear: none lost
            reply = stream.replies.popleft()
            yield from self._bls_responses(reply)
            if not reply.get("more"):
                return

    def model_control(self, action: str, name: str, **kw: Any) -> Any:
        reply = self._call({"op": "control", "action": action, "model_name": name, **kw})
        if reply.get("error"):
            raise pb.TritonModelException(reply["error"][1])
        return reply.get("result")


class Stub:
    """One model instance in this process."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.model: Any = None

    def load_module(self, path: str) -> Any:
        directory = os.path.dirname(path)
        if directory not in sys.path:
            sys.path.append(directory)
        spec = importlib.util.spec_from_file_location("model", path)
        if spec is None or spec.loader is None:
            raise pb.TritonError(f"cannot import {path}", pb.TritonError.INVALID_ARG)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, "TritonPythonModel"):
            raise pb.TritonError(f"{path} defines no class TritonPythonModel",
                                 pb.TritonError.INVALID_ARG)
        return module

    def run_maybe_async(self, result: Any) -> Any:
        if result is None or type(result) is list:  # what execute usually returns
            return result
        if inspect.isawaitable(result):
            return self.rt.loop.run_until_complete(result)
        return result

    def autocomplete(self, msg: dict[str, Any]) -> dict[str, Any]:
        cls = self.load_module(msg["model_path"]).TritonPythonModel
        config = pb.ModelConfig(msg["config"])
        if hasattr(cls, "auto_complete_config"):
            returned = cls.auto_complete_config(config)
            if not isinstance(returned, pb.ModelConfig):
                raise pb.TritonError("auto_complete_config must return the ModelConfig object "
                                     "it was given", pb.TritonError.INVALID_ARG)
            config = returned
        return {"op": "config", "config": config.as_dict()}

    def initialize(self, msg: dict[str, Any]) -> dict[str, Any]:
        args = msg["args"]
        self.rt.model_dir = os.path.join(args["model_repository"], args["model_version"])
        self.rt.model_name = args["model_name"]
        config = json.loads(args["model_config"])
        self.rt.declare_outputs([o["name"] for o in config.get("output", ())])
        self.model = self.load_module(msg["model_path"]).TritonPythonModel()
        if hasattr(self.model, "initialize"):
            self.run_maybe_async(self.model.initialize(args))
        return {"op": "ready"}

    def execute(self, msg: tuple[Any, ...]) -> tuple[Any, ...]:
        """An EXECUTE message (``wire``): the model's execute on its requests; EXECUTED."""
        _, call, in_size, entries, _ = msg
        rt = self.rt
        rt.inputs.ensure(in_size)
        model_name = rt.model_name
        received = pb.InferenceRequest._received
        requests = [received(model_name, rt.read_tensors(e[2]), e, e[3] or rt.output_names)
                    for e in entries]
        try:
            result = self.run_maybe_async(self.model.execute(requests))
        except BaseException as exc:  # noqa: BLE001 - reported to every request of the batch
            return (EXECUTED, call, None, rt.outputs.arena.size, error_tuple(exc))
        responses = error = None  # None and None: answered through response senders
        if result is None:
            pass
        elif not isinstance(result, (list, tuple)):
            error = (pb.TritonError.INTERNAL, "execute must return a list of InferenceResponse, "
                     f"one per request, got {type(result).__name__}")
        elif len(result) != len(requests):
            error = (pb.TritonError.INTERNAL,
                     f"execute returned {len(result)} response(s) for {len(requests)} "
                     "request(s); it must return one InferenceResponse per request")
        else:
            encode = rt.encode_response
            responses = [encode(r, q._requested) for r, q in zip(result, requests)]
        return (EXECUTED, call, responses, rt.outputs.arena.size, error)

    def finalize(self) -> dict[str, Any]:
        if self.model is not None and hasattr(self.model, "finalize"):
            self.run_maybe_async(self.model.finalize())
        return {"op": "finalized"}


def main(fds: list[int]) -> None:
    sock_fd, in_fd, out_fd, growth = fds
    channel = BlockingChannel(socket.socket(fileno=sock_fd))
    runtime = Runtime(channel, Arena(in_fd), Allocator(Arena(out_fd), growth))
    pb._RUNTIME = runtime
    stub = Stub(runtime)
    handlers: dict[str, Callable[[Any], Message]] = {
        "autocomplete": stub.autocomplete, "init": stub.initialize, EXECUTE: stub.execute,
        "finalize": lambda _: stub.finalize()}
    gate = PollGate(0)  # how long to poll for the next operation after an execute
    answered = None  # when the last execute was answered
    clock = time.perf_counter_ns
    while True:
        # After an execute the next one is often a client round trip away: polling for it a
        # while saves a sleep and a wake-up (and their cold caches) on the way.
        msg = runtime.next_operation(gate.budget() if answered is not None else 0)
        if answered is not None:
            gate.record(clock() - answered)
        if isinstance(msg, tuple):  # an EXECUTE (wire.py), the usual operation
            op, call = EXECUTE, msg[1]
        else:
            op, call = msg["op"], 0
            if op == "init":
                gate.budget_ns = runtime.reply_poll_ns = msg.get("busy_poll_us", 0) * 1000
        try:
            reply: Message = handlers[op](msg)
        except BaseException as exc:  # noqa: BLE001 - reported to the server
            code, message = error_tuple(exc)
            reply = {"op": "error", "code": code, "message": message,
                     "traceback": traceback.format_exc(), "id": call}
        channel.send(reply)
        answered = clock() if op == EXECUTE else None
        if op == "init" and isinstance(reply, dict) and reply["op"] == "ready":
            heap.settle()  # what initialize built lives as long as the stub
        if op in ("finalize", "autocomplete"):
            break
    sys.stdout.flush()
    os._exit(0)


