"""Schedulers: queue a model version's requests and hand batches to its instances.

``Scheduler`` owns the worker tasks (one per instance: one batch per instance at a time)
and the accounting that lets a model drain; subclasses decide what forms a batch:
``FifoScheduler`` sends each request alone, ``DynamicBatcher`` (dynamic.py) batches.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import logging

from tritoncore.errors import ErrorCode, TritonError
from tritoncore.scheduling.instance import InstanceRunner
from tritoncore.scheduling.request import InferenceRequest

log = logging.getLogger(__name__)


class Scheduler(abc.ABC):
    """Worker tasks, admission and drain; ``_admit`` and ``next_batch`` are the seam."""

    def __init__(self, model_name: str, runners: list[InstanceRunner]) -> None:
        self.model_name = model_name
        self.runners = runners
        self.wakeup = asyncio.Event()  # something was queued
        self._outstanding = 0  # queued or running requests
        self._idle = asyncio.Event()
        self._idle.set()
        self._workers: list[asyncio.Task[None]] = []
        self._accepting = False

    def start(self) -> None:
        self._accepting = True
        self._workers = [
            asyncio.create_task(self._work(r), name=f"{self.model_name}:{r.name}")
            for r in self.runners
        ]

    def enqueue(self, request: InferenceRequest) -> None:
        """Queue a validated request; refused once draining began (or by the policy)."""
        if not self._accepting:
            raise TritonError(ErrorCode.UNAVAILABLE, f"model '{self.model_name}' is unloading")
        self._admit(request)
        self._outstanding += 1
        self._idle.clear()
        self.wakeup.set()

    @abc.abstractmethod
    def _admit(self, request: InferenceRequest) -> None:
        """Put the request in the queue (or raise to refuse it)."""

    @abc.abstractmethod
    async def next_batch(self, runner: InstanceRunner) -> list[InferenceRequest]:
        """Wait for and return the next batch for ``runner``, which is free."""

    def pending(self) -> int:
        """Requests queued and not yet executing (nv_inference_pending_request_count); a
        scheduler that keeps no queue of its own (ensembles) has none."""
        return 0

    def finished(self, count: int) -> None:
        """``count`` queued requests left the scheduler (ran, failed or expired)."""
        self._outstanding -= count
        if self._outstanding <= 0:
            self._outstanding = 0
            self._idle.set()

    async def _work(self, runner: InstanceRunner) -> None:
        while True:
            batch = await self.next_batch(runner)
            try:
                live = [r for r in batch if not self._cancelled(r)]
                if live:
                    await runner.run(live)
            except Exception:
                log.exception("model '%s': scheduler worker failed", self.model_name)
            finally:
                self.finished(len(batch))

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
        await self._idle.wait()

    async def stop(self) -> None:
        """Drain, then end the worker tasks."""
        await self.drain()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)


class FifoScheduler(Scheduler):
    """Each request alone, in arrival order, to the next free instance."""

    def __init__(self, model_name: str, runners: list[InstanceRunner]) -> None:
        super().__init__(model_name, runners)
        self.queue: collections.deque[InferenceRequest] = collections.deque()

    def _admit(self, request: InferenceRequest) -> None:
        self.queue.append(request)

    def pending(self) -> int:
        return len(self.queue)

    async def next_batch(self, runner: InstanceRunner) -> list[InferenceRequest]:
        while not self.queue:
            self.wakeup.clear()
            await self.wakeup.wait()
        return [self.queue.popleft()]
