"""The dynamic batcher's decisions, as a pure object driven by an explicit clock.

``BatchPlanner`` holds the queued requests of one model version (by priority level, FIFO
within a level) and answers one question: given the time now, which batch should a free
instance run, which requests expired, and when is it worth asking again. Keeping time out of
it makes every rule testable with a simulated clock.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tritoncore.errors import ErrorCode, TritonError

T = TypeVar("T")

REJECT = "REJECT"
DELAY = "DELAY"


class QueueFull(TritonError):
    """A priority level's ``max_queue_size`` was reached (counted as REJECTED)."""


class QueueTimeout(TritonError):
    """A request waited longer than its timeout with ``timeout_action: REJECT``."""


@dataclass(frozen=True)
class QueuePolicy:
    """ModelQueuePolicy: what a priority level's queue allows."""

    timeout_action: str = REJECT
    default_timeout_ns: int = 0  # 0: no timeout
    allow_timeout_override: bool = False
    max_queue_size: int = 0  # 0: unbounded


@dataclass
class Pending(Generic[T]):
    """One queued request with what the planner needs to know about it."""

    item: T
    size: int  # its batch size (first dimension), 1 for non-batching models
    signature: Hashable  # requests batch together only when these are equal
    arrival_ns: int
    level: int = 1
    timeout_ns: int = 0  # requested timeout (honoured when the policy allows overrides)
    deadline_ns: int | None = None
    seq: int = 0


@dataclass
class Plan(Generic[T]):
    """What ``take`` decided."""

    batch: list[Pending[T]] = field(default_factory=list)
    expired: list[Pending[T]] = field(default_factory=list)
    wake_ns: int | None = None  # ask again at this time (None: only when something arrives)


class BatchPlanner(Generic[T]):
    """Forms batches: never above ``max_batch_size``, a preferred size leaves at once, a
    partial batch leaves when its oldest request has waited ``delay_ns``."""

    def __init__(self, max_batch_size: int, preferred: list[int] | None = None,
                 delay_ns: int = 0, levels: int = 0, default_level: int = 0,
                 default_policy: QueuePolicy = QueuePolicy(),
                 level_policies: dict[int, QueuePolicy] | None = None) -> None:
        self.max_batch_size = max(1, max_batch_size)
        self.preferred = sorted(p for p in (preferred or []) if 0 < p <= self.max_batch_size)
        self.delay_ns = delay_ns
        self.levels = max(1, levels)
        # Without priority levels everything is level 1; with them, an unset default is the
        # lowest priority.
        self.default_level = (default_level or self.levels) if levels else 1
        if not 1 <= self.default_level <= self.levels:
            raise TritonError(ErrorCode.INVALID_ARG,
                              f"default_priority_level {default_level} is outside 1..{levels}")
        self.policies = {lvl: (level_policies or {}).get(lvl, default_policy)
                         for lvl in range(1, self.levels + 1)}
        self.queues: dict[int, collections.deque[Pending[T]]] = {
            lvl: collections.deque() for lvl in range(1, self.levels + 1)}
        self.delayed: collections.deque[Pending[T]] = collections.deque()
        self._seq = itertools.count()

    def __len__(self) -> int:
        return sum(len(q) for q in self.queues.values()) + len(self.delayed)

    def level_for(self, priority: int) -> int:
        """A request's priority as a level: 1..levels as given; 0 and anything out of range
        take the default level (as Triton 2.51 does, checked against it)."""
        if 1 <= priority <= self.levels:
            return priority
        return self.default_level

    def add(self, pending: Pending[T]) -> None:
        """Queue a request; QueueFull when its level's queue is at ``max_queue_size``."""
        policy = self.policies[pending.level]
        queue = self.queues[pending.level]
        if policy.max_queue_size and len(queue) >= policy.max_queue_size:
            raise QueueFull(ErrorCode.UNAVAILABLE,
                            f"exceeds maximum queue size: priority level {pending.level} already "
                            f"holds {policy.max_queue_size} request(s) (max_queue_size)")
        timeout = policy.default_timeout_ns
        if policy.allow_timeout_override and pending.timeout_ns:
            timeout = pending.timeout_ns
        pending.deadline_ns = pending.arrival_ns + timeout if timeout else None
        pending.seq = next(self._seq)
        queue.append(pending)

    def _candidates(self) -> list[Pending[T]]:
        out: list[Pending[T]] = []
        for lvl in range(1, self.levels + 1):
            out.extend(self.queues[lvl])
        out.extend(self.delayed)
        return out

    def _expire(self, now: int, plan: Plan[T]) -> None:
        for lvl, queue in self.queues.items():
            if not any(p.deadline_ns is not None and p.deadline_ns <= now for p in queue):
                continue
            keep: collections.deque[Pending[T]] = collections.deque()
            for p in queue:
                if p.deadline_ns is not None and p.deadline_ns <= now:
                    if self.policies[lvl].timeout_action == DELAY:
                        p.deadline_ns = None
                        self.delayed.append(p)
                    else:
                        plan.expired.append(p)
                else:
                    keep.append(p)
            self.queues[lvl] = keep

    def take(self, now: int) -> Plan[T]:
        """The batch to run now (possibly empty), the expired requests, and when to ask again."""
        plan: Plan[T] = Plan()
        self._expire(now, plan)
        candidates = self._candidates()
        if not candidates:
            return plan
        first = candidates[0]
        batch = [first]
        total = first.size
        blocked = False  # the next candidate cannot join: waiting cannot grow this batch
        for p in candidates[1:]:
            if p.signature != first.signature or total + p.size > self.max_batch_size:
                blocked = True
                break
            batch.append(p)
            total += p.size
        oldest = min(p.arrival_ns for p in batch)
        ready = (blocked or total >= self.max_batch_size or total in self.preferred
                 or (self.preferred and total >= self.preferred[-1])
                 or self.delay_ns == 0 or now - oldest >= self.delay_ns)
        if ready:
            taken = {id(p) for p in batch}
            for queue in (*self.queues.values(), self.delayed):
                if any(id(p) in taken for p in queue):
                    remaining = [p for p in queue if id(p) not in taken]
                    queue.clear()
                    queue.extend(remaining)
            plan.batch = batch
        wakes = [p.deadline_ns for p in self._candidates() if p.deadline_ns is not None]
        if not ready:
            wakes.append(oldest + self.delay_ns)
        plan.wake_ns = min(wakes) if wakes else None
        return plan
