"""Schedulers: queue a model version's requests and hand batches to its instances.

``Scheduler`` owns the accounting that lets a model drain; ``FifoScheduler`` pushes each
request alone to the next free instance; ``WorkerScheduler`` runs one worker task per instance
(one batch per instance at a time) pulling batches from ``DynamicBatcher`` (dynamic.py) or
``SequenceBatcher`` (sequence.py).
"""

from __future__ import annotations

import abc
import asyncio
import collections
import functools
import logging

from tritoncore.errors import ErrorCode, TritonError
from tritoncore.scheduling.instance import InstanceRunner
from tritoncore.scheduling.request import InferenceRequest

log = logging.getLogger(__name__)


class Scheduler(abc.ABC):
    """Admission, accounting and drain; ``_admit`` and ``_queued`` are the seam."""

    def __init__(self, model_name: str, runners: list[InstanceRunner]) -> None:
        self.model_name = model_name
        self.runners = runners
        self._outstanding = 0  # queued or running requests
        self._idle: asyncio.Event | None = None  # a drain's: set when nothing is outstanding
        self._accepting = False

    def start(self) -> None:
        self._accepting = True

    def enqueue(self, request: InferenceRequest) -> None:
        """Queue a validated request; refused once draining began (or by the policy)."""
        if not self._accepting:
            raise TritonError(ErrorCode.UNAVAILABLE, f"model '{self.model_name}' is unloading")
        self._admit(request)
        self._outstanding += 1
        self._queued()

    def _queued(self) -> None:
        """Something was queued (after ``_admit``)."""

    @abc.abstractmethod
    def _admit(self, request: InferenceRequest) -> None:
        """Put the request in the queue (or raise to refuse it)."""

    def pending(self) -> int:
        """Requests queued and not yet executing (nv_inference_pending_request_count); a
        scheduler that keeps no queue of its own (ensembles) has none."""
        return 0

    def finished(self, count: int) -> None:
        """``count`` queued requests left the scheduler (ran, failed or expired)."""
        self._outstanding -= count
        if self._outstanding <= 0:
            self._outstanding = 0
            if self._idle is not None:
                self._idle.set()

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
        while self._outstanding > 0:  # an event only while someone waits: none per request
            if self._idle is None or self._idle.is_set():
                self._idle = asyncio.Event()
            await self._idle.wait()

    async def stop(self) -> None:
        """Drain; subclasses then end what they run."""
        await self.drain()


class WorkerScheduler(Scheduler):
    """One worker task per instance, each pulling its next batch (``next_batch``)."""

    def __init__(self, model_name: str, runners: list[InstanceRunner]) -> None:
        super().__init__(model_name, runners)
        self.wakeup = asyncio.Event()  # something was queued
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        super().start()
        self._workers = [
            asyncio.create_task(self._work(r), name=f"{self.model_name}:{r.name}")
            for r in self.runners for _ in range(self._depth(r))
        ]

    def _depth(self, runner: InstanceRunner) -> int:
        """Worker tasks for ``runner``: its pipeline depth (batches it may hold at once)."""
        return runner.depth

    def _queued(self) -> None:
        self.wakeup.set()

    @abc.abstractmethod
    async def next_batch(self, runner: InstanceRunner) -> list[InferenceRequest]:
        """Wait for and return the next batch for ``runner``, which is free."""

    async def _work(self, runner: InstanceRunner) -> None:
        while True:
            try:
                batch = await self.next_batch(runner)
            except Exception:  # a bug; the worker must live on for the next requests
                log.exception("model '%s': choosing the next batch failed", self.model_name)
                await asyncio.sleep(0.01)
                continue
            try:
                live = [r for r in batch if not self._cancelled(r)]
                if live:
                    await runner.run(live)
            except Exception:
                log.exception("model '%s': scheduler worker failed", self.model_name)
            finally:
                self.finished(len(batch))

    async def stop(self) -> None:
        """Drain, then end the worker tasks."""
        await super().stop()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)


class FifoScheduler(Scheduler):
    """Each request alone, in arrival order, to the next free instance.

    Push-driven, without worker tasks: a request goes to an instance as it is queued, and
    the next one as an instance finishes. An instance holds at most its pipeline depth of
    requests; the least busy one gets the next.
    """

    def __init__(self, model_name: str, runners: list[InstanceRunner]) -> None:
        super().__init__(model_name, runners)
        self.queue: collections.deque[InferenceRequest] = collections.deque()
        self.busy = dict.fromkeys(runners, 0)  # runner -> requests it holds
        self._room = sum(r.depth for r in runners)  # requests instances may still take
        self._dispatching = False

    def _admit(self, request: InferenceRequest) -> None:
        self.queue.append(request)

    def pending(self) -> int:
        return len(self.queue)

    def _queued(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand queued requests to free instances (not re-entered by instances that finish
        at once: the loop below picks those up)."""
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self.queue and self._room:
                request = self.queue.popleft()
                if self._cancelled(request):
                    self.finished(1)
                    continue
                busy = self.busy
                runner = self.runners[0] if len(busy) == 1 else min(
                    (r for r in busy if busy[r] < r.depth), key=busy.__getitem__)
                busy[runner] += 1
                self._room -= 1
                runner.start([request], functools.partial(self._ran, runner))
        finally:
            self._dispatching = False

    def _ran(self, runner: InstanceRunner) -> None:
        self.finished(1)
        self.busy[runner] -= 1
        self._room += 1
        if self.queue:
            self._dispatch()
