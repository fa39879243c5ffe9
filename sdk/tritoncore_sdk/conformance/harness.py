"""An in-process server over the target's repository, and requests the kit can check."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tritoncore import dtypes
from tritoncore.errors import TritonError
from tritoncore.options import ServerOptions
from tritoncore.plugins import PluginManager
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.server import Server
from tritoncore.tensor import Tensor

from tritoncore_sdk.config import ModelConfigView, TensorSpec
from tritoncore_sdk.conformance.target import Target

#: How long one request may take before the kit calls its final response missing.
RESPONSE_TIMEOUT_S = 30.0


class Harness:
    """``async with Harness(target) as h``: a started server in explicit control mode."""

    #: Makes the server's plugin manager (the kit's own tests swap in one with test backends).
    plugins_factory: Callable[[], PluginManager] = PluginManager

    def __init__(self, target: Target) -> None:
        self.target = target
        options = ServerOptions(model_repositories=[target.repository],
                                model_control_mode="explicit", allow_http=False,
                                # one load thread: the server's own pool cannot grow between
                                # the leak check's snapshots
                                model_load_thread_count=1,
                                allow_grpc=False, allow_metrics=False, exit_timeout_secs=30)
        self.server = Server(options, type(self).plugins_factory())

    async def __aenter__(self) -> Harness:
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()

    async def load(self, name: str) -> ModelConfigView:
        await self.server.load_model(name)
        return self.config(name)

    async def unload(self, name: str) -> None:
        await self.server.unload_model(name)

    def config(self, name: str) -> ModelConfigView:
        return ModelConfigView(self.server.model(name).config)

    def spy(self, name: str) -> ExecutionLog:
        """Record every ``execute`` of the model's instances (which instance, when)."""
        log = ExecutionLog()
        for index, runner in enumerate(self.server.model(name).runners):
            runner.instance = _SpyInstance(runner.instance, index, log)  # type: ignore[assignment]
        return log

    async def send(self, request: InferenceRequest, *, cancel_after_s: float | None = None,
                   timeout: float = RESPONSE_TIMEOUT_S) -> Outcome:
        """Submit ``request`` and collect every response until the final one (or timeout)."""
        loop = asyncio.get_running_loop()
        outcome = Outcome(request)
        done = asyncio.Event()

        def deliver(response: InferenceResponse) -> None:
            def on_loop() -> None:
                outcome.responses.append(response)
                if response.final:
                    done.set()
            loop.call_soon_threadsafe(on_loop)

        try:
            self.server.model(request.model_name).submit(request, deliver)
        except TritonError as exc:
            outcome.refused = exc
            return outcome
        if cancel_after_s is not None:
            loop.call_later(cancel_after_s, request.cancelled.set)
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except asyncio.TimeoutError:
            outcome.timed_out = True
        return outcome


@dataclass
class Outcome:
    """Everything one request got back."""

    request: InferenceRequest
    responses: list[InferenceResponse] = field(default_factory=list)
    refused: TritonError | None = None  # submit() raised (invalid request, unloading)
    timed_out: bool = False

    @property
    def finals(self) -> int:
        return sum(1 for r in self.responses if r.final)

    @property
    def error(self) -> TritonError | None:
        if self.refused is not None:
            return self.refused
        return next((r.error for r in self.responses if r.error is not None), None)

    def final_problem(self) -> str:
        """Why this request did not end with exactly one final response, last ("" if it did)."""
        if self.refused is not None:
            return ""
        if self.timed_out:
            return f"no final response within {RESPONSE_TIMEOUT_S:.0f}s"
        if self.finals != 1:
            return f"{self.finals} final responses"
        if not self.responses[-1].final:
            return "a response arrived after the final one"
        return ""


@dataclass
class ExecutionLog:
    """(instance index, thread id, start, end) of every execute call."""

    calls: list[tuple[int, int, float, float]] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)  # requests per execute call
    depths: dict[int, int] = field(default_factory=dict)  # instance index -> pipeline depth
    lock: threading.Lock = field(default_factory=threading.Lock)

    def instances_used(self) -> set[int]:
        return {c[0] for c in self.calls}

    def overlapping_instances(self) -> bool:
        """True if two different instances were ever executing at the same moment."""
        calls = sorted(self.calls, key=lambda c: c[2])
        return any(a[0] != b[0] and b[2] < a[3] for i, a in enumerate(calls)
                   for b in calls[i + 1:])

    def same_instance_overlap(self) -> bool:
        """True if one instance ever held more batches at once than its pipeline depth
        (``ModelInstance.pipeline_depth``: 1 unless it queues batches in another process)."""
        by: dict[int, list[tuple[float, int]]] = {}
        for index, _, start, end in self.calls:
            by.setdefault(index, []).extend([(start, 1), (end, -1)])
        for index, events in by.items():
            held = 0
            for _, step in sorted(events):  # an end sorts before a start at the same moment
                held += step
                if held > self.depths.get(index, 1):
                    return True
        return False


class _SpyInstance:
    """Wraps a ModelInstance, forwarding everything and timing ``execute``."""

    def __init__(self, inner: Any, index: int, log: ExecutionLog) -> None:
        self._inner = inner
        self._index = index
        self._log = log
        log.depths[index] = getattr(inner, "pipeline_depth", 1)
        if inspect.iscoroutinefunction(inner.execute):
            self.execute = self._execute_async
        else:
            self.execute = self._execute_sync
        self.submit = self._submit if getattr(inner, "submit", None) is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _record(self, start: float) -> None:
        with self._log.lock:
            self._log.calls.append((self._index, threading.get_ident(), start, time.monotonic()))

    def _execute_sync(self, requests: list[InferenceRequest]) -> Any:
        self._log.batch_sizes.append(len(requests))
        start = time.monotonic()
        try:
            return self._inner.execute(requests)
        finally:
            self._record(start)

    async def _execute_async(self, requests: list[InferenceRequest]) -> Any:
        self._log.batch_sizes.append(len(requests))
        start = time.monotonic()
        try:
            return await self._inner.execute(requests)
        finally:
            self._record(start)

    def _submit(self, requests: list[InferenceRequest], done: Any) -> None:
        """The callback form (``ModelInstance.submit``): timed until ``done`` is called."""
        self._log.batch_sizes.append(len(requests))
        start = time.monotonic()

        def finished(result: Any, error: BaseException | None) -> None:
            self._record(start)
            done(result, error)

        self._inner.submit(requests, finished)


# ------------------------------------------------------------------------------------------
# request data
# ------------------------------------------------------------------------------------------


def sample(spec: TensorSpec, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random values of the spec's datatype: finite floats, full-range-ish integers, BF16 as
    valid bit patterns, BYTES with embedded NULs."""
    dt = dtypes.by_name(spec.datatype)
    count = int(np.prod(shape)) if shape else 1
    if dt.name == "BOOL":
        values = rng.integers(0, 2, count).astype(np.bool_)
    elif dt.name == "BYTES":
        values = np.array([bytes(rng.integers(0, 256, int(rng.integers(0, 8))).tolist())
                           + b"\x00x" for _ in range(count)], dtype=np.object_)
    elif dt.name == "BF16":
        floats = rng.standard_normal(count).astype(np.float32)
        values = (floats.view(np.uint32) >> 16).astype(np.uint16)
    elif dt.numpy.kind == "f":
        values = (rng.standard_normal(count) * 100).astype(dt.numpy)
    else:
        info = np.iinfo(dt.numpy)
        values = rng.integers(max(info.min, -(2**31)), min(info.max, 2**31 - 1), count,
                              dtype=np.int64, endpoint=True).astype(dt.numpy)
    return values.reshape(shape)


def shape_for(spec: TensorSpec, batch: int | None, fill: int = 3) -> tuple[int, ...]:
    dims = tuple(fill if d < 0 else d for d in spec.dims)
    return ((batch,) if batch is not None else ()) + dims


def make_request(model: str, config: ModelConfigView, rng: np.random.Generator,
                 batch: int = 1, fill: int = 3) -> InferenceRequest:
    """A request with random values for every input of ``config``."""
    inputs = {}
    for spec in config.inputs:
        shape = shape_for(spec, batch if config.batching else None, fill)
        inputs[spec.name] = Tensor.from_numpy(spec.name, sample(spec, shape, rng), spec.datatype)
    return InferenceRequest(model, inputs)


def identity_mismatch(config: ModelConfigView, outcome: Outcome) -> str:
    """Why ``outcome`` is not the identity of its request's inputs ("" if it is)."""
    if outcome.error is not None:
        return f"error {outcome.error.code.name}: {outcome.error.message}"
    outputs = {t.name: t for r in outcome.responses for t in r.outputs}
    for inp, out in zip(config.inputs, config.outputs):
        sent = outcome.request.inputs[inp.name]
        got = outputs.get(out.name)
        if got is None:
            return f"output '{out.name}' missing"
        if got.datatype != sent.datatype:
            return f"output '{out.name}' is {got.datatype}, input '{inp.name}' is {sent.datatype}"
        a, b = sent.as_numpy(), np.asarray(got.as_numpy())
        if tuple(b.shape) != tuple(a.shape):
            return f"output '{out.name}' has shape {list(b.shape)}, expected {list(a.shape)}"
        if a.dtype == np.object_:
            same = all(bytes(x) == bytes(y) for x, y in zip(a.reshape(-1), b.reshape(-1)))
        else:
            same = a.tobytes() == np.ascontiguousarray(b).astype(a.dtype, copy=False).tobytes()
        if not same:
            return f"output '{out.name}' values differ from input '{inp.name}' ({sent.datatype})"
    return ""
