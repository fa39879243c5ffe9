"""Schedulers: queue a model version's requests and hand batches to its instances.

``Scheduler`` sends each request alone to the next free instance; it is the seam the
dynamic and sequence batchers plug into by overriding ``next_batch``.
"""

from __future__ import annotations

import asyncio
import logging

from tritoncore.errors import ErrorCode, TritonError
from tritoncore.scheduling.instance import InstanceRunner
from tritoncore.scheduling.request import InferenceRequest

log = logging.getLogger(__name__)


class Scheduler:
    """FIFO queue, one worker task per instance; subclasses decide what forms a batch."""

    def __init__(self, model_name: str, runners: list[InstanceRunner]) -> None:
        self.model_name = model_name
        self.runners = runners
        self.queue: asyncio.Queue[InferenceRequest] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._accepting = False

    def start(self) -> None:
        self._accepting = True
        self._workers = [
            asyncio.create_task(self._work(r), name=f"{self.model_name}:{r.name}")
            for r in self.runners
        ]

    def enqueue(self, request: InferenceRequest) -> None:
        """Queue a request (the caller has validated it); refused once draining began."""
        if not self._accepting:
            raise TritonError(ErrorCode.UNAVAILABLE, f"model '{self.model_name}' is unloading")
        self.queue.put_nowait(request)

    async def next_batch(self) -> list[InferenceRequest]:
        """The next batch to run; the default is one request."""
        return [await self.queue.get()]

    async def _work(self, runner: InstanceRunner) -> None:
        while True:
            batch = await self.next_batch()
            try:
                live = [r for r in batch if not self._cancelled(r)]
                if live:
                    await runner.run(live)
            except Exception:  # noqa: BLE001 - a worker must outlive any one batch
                log.exception("model '%s': scheduler worker failed", self.model_name)
            finally:
                for _ in batch:
                    self.queue.task_done()

    def _cancelled(self, request: InferenceRequest) -> bool:
        if request.is_cancelled and request.sender is not None:
            request.sender.fail(
                TritonError(ErrorCode.CANCELLED, f"request for '{self.model_name}' was cancelled")
            )
            return True
        return False

    async def drain(self) -> None:
        """Stop accepting and wait until every queued request has run."""
        self._accepting = False
        await self.queue.join()

    async def stop(self) -> None:
        """Drain, then end the worker tasks."""
        await self.drain()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
