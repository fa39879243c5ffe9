"""The dynamic batcher: a ``Scheduler`` driving ``BatchPlanner`` with the real clock."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from tritoncore.errors import ErrorCode
from tritoncore.scheduling import timer
from tritoncore.scheduling.batcher import BatchPlanner, Pending, QueuePolicy, QueueTimeout
from tritoncore.scheduling.batching import shape_key
from tritoncore.scheduling.instance import InstanceRunner
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.scheduling.scheduler import WorkerScheduler

_ACTIONS = {0: "REJECT", 1: "DELAY"}


def queue_policy(policy: Any) -> QueuePolicy:
    """ModelQueuePolicy message -> QueuePolicy."""
    return QueuePolicy(timeout_action=_ACTIONS.get(policy.timeout_action, "REJECT"),
                       default_timeout_ns=policy.default_timeout_microseconds * 1000,
                       allow_timeout_override=policy.allow_timeout_override,
                       max_queue_size=policy.max_queue_size)


def planner_for(config: Any) -> BatchPlanner[InferenceRequest]:
    """The planner a ModelConfig's ``dynamic_batching`` block describes."""
    db = config.dynamic_batching
    return BatchPlanner(
        config.max_batch_size, list(db.preferred_batch_size),
        db.max_queue_delay_microseconds * 1000, db.priority_levels, db.default_priority_level,
        queue_policy(db.default_queue_policy),
        {int(level): queue_policy(p) for level, p in db.priority_queue_policy.items()})




class InOrder:
    """Delivers final responses in the order requests were queued (``preserve_ordering``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._next = 0
        self._held: dict[int, tuple[Callable[[InferenceResponse], None], InferenceResponse]] = {}

    def attach(self, request: InferenceRequest) -> None:
        assert request.sender is not None
        n = next(self._seq)
        deliver = request.sender.deliver

        def ordered(response: InferenceResponse) -> None:
            with self._lock:
                self._held[n] = (deliver, response)
                while self._next in self._held:
                    target, held = self._held.pop(self._next)
                    self._next += 1
                    target(held)

        request.sender.deliver = ordered


#: Batches the dynamic batcher hands an instance before the previous one finished.
BATCH_PIPELINE_DEPTH = 2


class DynamicBatcher(WorkerScheduler):
    """Batches queued requests per ``dynamic_batching`` (sizes, delay, priorities, policies)."""

    def __init__(self, model_name: str, runners: list[InstanceRunner], config: Any,
                 clock: Callable[[], int] = time.monotonic_ns) -> None:
        super().__init__(model_name, runners)
        self.config = config
        self.planner = planner_for(config)
        self.clock = clock
        self.ordering = InOrder() if config.dynamic_batching.preserve_ordering else None
        self.ragged = frozenset(i.name for i in config.input if i.allow_ragged_batch)
        self.timer = timer.PreciseTimer(asyncio.get_running_loop())  # delays below 1 ms
        self._alarm_ns: int | None = None

    def _depth(self, runner: InstanceRunner) -> int:
        """At most two batches per instance: a deeper pipeline splits the queue into more,
        smaller batches (each worker takes what is there when it frees up)."""
        return min(runner.depth, BATCH_PIPELINE_DEPTH)

    def _admit(self, request: InferenceRequest) -> None:
        self.planner.add(Pending(
            request, request.batch_size(self.config.max_batch_size),
            shape_key(request, self.ragged), request.arrival_ns,
            self.planner.level_for(request.priority), timeout_ns=request.timeout_us * 1000))
        if self.ordering is not None:
            self.ordering.attach(request)

    def pending(self) -> int:
        return len(self.planner)

    async def next_batch(self, runner: InstanceRunner) -> list[InferenceRequest]:
        while True:
            self.wakeup.clear()
            plan = self.planner.take(self.clock())
            for p in plan.expired:
                if p.item.sender is not None:
                    p.item.sender.fail(QueueTimeout(
                        ErrorCode.UNAVAILABLE,
                        f"request for '{self.model_name}' timed out after waiting "
                        f"{(self.clock() - p.arrival_ns) // 1000} us in the queue"))
            if plan.expired:
                self.finished(len(plan.expired))
            if plan.batch:
                if len(self.planner):
                    self.wakeup.set()  # more waiting: let another free instance look
                return [p.item for p in plan.batch]
            if plan.wake_ns is not None:
                deadline = self._alarm(plan.wake_ns)
                if deadline is not None:  # the batch held until then is likely this runner's
                    runner.instance.expect(deadline)
            await self.wakeup.wait()

    def _alarm(self, due: int) -> int | None:
        """Set ``wakeup`` at ``due`` (the batcher's clock; one alarm pending at a time: the
        earliest): its ``time.monotonic_ns`` time, or None when an alarm at or before it is
        already set."""
        if self._alarm_ns is not None and self._alarm_ns <= due:
            return None
        self._alarm_ns = due

        def ring() -> None:
            if self._alarm_ns == due:
                self._alarm_ns = None
            self.wakeup.set()

        deadline = due + time.monotonic_ns() - self.clock()
        self.timer.call_at(deadline, ring)
        return deadline
