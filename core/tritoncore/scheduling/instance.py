"""Runs batches on one model instance and enforces one final response per request."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tritoncore import asynccall
from tritoncore.backend import BatchDone, ModelInstance
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.scheduling.stats import ModelStats

log = logging.getLogger(__name__)


class InstanceRunner:
    """One instance, its own worker thread, and the requests it still owes a final response."""

    def __init__(
        self,
        model_name: str,
        name: str,
        instance: ModelInstance,
        stats: ModelStats,
        max_batch_size: int,
        decoupled: bool,
    ) -> None:
        self.model_name = model_name
        self.name = name
        self.stats = stats
        self.max_batch_size = max_batch_size
        self.decoupled = decoupled
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"instance-{name}")
        self._open_requests: dict[int, InferenceRequest] = {}
        self.instance = instance

    @property
    def instance(self) -> ModelInstance:
        return self._instance

    @instance.setter
    def instance(self, instance: ModelInstance) -> None:
        self._instance = instance
        # decided once: an async execute runs on the loop, a plain one in the worker thread,
        # and an instance with the callback form (``submit``) is called without either, even
        # when it also has an async execute
        self._submit = instance.submit
        self._async = self._submit is None and inspect.iscoroutinefunction(instance.execute)
        self.depth = max(1, instance.pipeline_depth)

    def start(self, requests: list[InferenceRequest], on_done: Callable[[], None]) -> None:
        """Begin one batch and return; ``on_done()`` (on the loop) once it has finished."""
        if self._async:
            task = asyncio.get_running_loop().create_task(self.run(requests))
            task.add_done_callback(lambda _: on_done())
            return
        begin = self._begin(requests)

        def done(result: list[InferenceResponse] | None, error: BaseException | None) -> None:
            if error is None and result is not None and type(result) is not list and \
                    inspect.isawaitable(result):  # a plain execute gave a coroutine
                task = asyncio.get_running_loop().create_task(
                    self._finish(requests, begin, result))
                task.add_done_callback(lambda _: on_done())
                return
            self._end(requests, begin, result, error)
            on_done()

        if self._submit is None:  # a plain execute, in the instance's worker thread
            self._in_thread(requests, done)
            return
        try:
            self._submit(requests, done)
        except Exception as exc:  # noqa: BLE001 - a backend failure becomes the requests' error
            done(None, exc)

    def _in_thread(self, requests: list[InferenceRequest], done: BatchDone) -> None:
        """``execute`` in the worker thread; ``done`` on the loop with its outcome."""
        loop = asyncio.get_running_loop()

        def finished(future: Future[Any]) -> None:
            error = future.exception()
            loop.call_soon_threadsafe(done, None if error else future.result(), error)

        self.executor.submit(self.instance.execute, requests).add_done_callback(finished)

    async def run(self, requests: list[InferenceRequest]) -> None:
        """Execute one batch; afterwards every non-decoupled request has its final response."""
        if not self._async:
            finished = asyncio.get_running_loop().create_future()
            self.start(requests, lambda: finished.set_result(None))
            await finished
            return
        begin = self._begin(requests)
        await self._finish(requests, begin, self.instance.execute(requests))  # type: ignore[arg-type]

    async def _finish(self, requests: list[InferenceRequest], begin: int,
                      pending: Awaitable[Any]) -> None:
        try:
            result = await pending
        except Exception as exc:  # noqa: BLE001 - a backend failure becomes the requests' error
            self._end(requests, begin, None, exc)
            return
        self._end(requests, begin, result, None)

    def _begin(self, requests: list[InferenceRequest]) -> int:
        if self.decoupled:
            for r in requests:
                self._open_requests[id(r)] = r
        return time.monotonic_ns()

    def _end(self, requests: list[InferenceRequest], begin: int, result: object,
             error: BaseException | None) -> None:
        """The responses (or the error) to every request of the batch, then its statistics
        (after the answers are on their way, in the same loop callback)."""
        infer_ns = time.monotonic_ns() - begin
        try:
            if error is not None:
                failure = self._as_error(error)
                log.warning("%s", failure.message)
                for r in requests:
                    self._fail(r, failure)
            elif self.decoupled:
                self._forget_closed()
            else:
                self._deliver(requests, result)
        finally:
            if len(requests) == 1:  # the usual case without batching, without generators
                queue_ns = begin - requests[0].arrival_ns
                batch_size = requests[0].batch_size(self.max_batch_size)
            else:
                queue_ns = sum(begin - r.arrival_ns for r in requests)
                batch_size = sum(r.batch_size(self.max_batch_size) for r in requests)
            self.stats.batch_done(batch_size, len(requests), queue_ns, infer_ns)

    def _deliver(self, requests: list[InferenceRequest], result: object) -> None:
        """One response per request, in order; anything else fails every request of the
        batch that has no final response yet."""
        responses = result if isinstance(result, (list, tuple)) else ()
        if len(responses) == len(requests) and \
                all(isinstance(response, InferenceResponse) for response in responses):
            for r, response in zip(requests, responses):
                r.sender.send(response, final=True)  # type: ignore[union-attr]
            return
        error = TritonError(
            ErrorCode.INTERNAL,
            f"model '{self.model_name}' instance '{self.name}': execute returned "
            f"{_describe(result)} for {len(requests)} request(s); it must return "
            "one InferenceResponse per request, in order")
        for r in requests:
            self._fail(r, error)

    def _as_error(self, exc: BaseException) -> TritonError:
        if isinstance(exc, TritonError):
            return exc
        return TritonError(
            ErrorCode.INTERNAL,
            f"model '{self.model_name}' instance '{self.name}': execute raised "
            f"{type(exc).__name__}: {exc}",
        )

    def _fail(self, request: InferenceRequest, error: TritonError) -> None:
        if request.sender is not None:
            request.sender.fail(error)
        self._open_requests.pop(id(request), None)

    def _forget_closed(self) -> None:
        for key, r in list(self._open_requests.items()):
            if r.sender is None or r.sender.is_final:
                del self._open_requests[key]

    async def finalize(self) -> None:
        """Close requests still open (decoupled), then finalize the instance off the loop."""
        self._forget_closed()
        for r in list(self._open_requests.values()):
            self._fail(
                r,
                TritonError(
                    ErrorCode.UNAVAILABLE,
                    f"model '{self.model_name}' instance '{self.name}' was unloaded before "
                    "the request's final response",
                ),
            )
        try:
            await asynccall.call(self.instance.finalize, executor=self.executor)
        finally:
            self.executor.shutdown(wait=False)


def _describe(result: object) -> str:
    if isinstance(result, (list, tuple)):
        return f"{len(result)} item(s)"
    return f"{type(result).__name__}"
