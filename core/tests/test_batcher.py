"""Property tests of the dynamic batcher's planner with a simulated clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tritoncore.scheduling.batcher import (
    DELAY,
    REJECT,
    BatchPlanner,
    Pending,
    QueueFull,
    QueuePolicy,
)


@dataclass
class Arrival:
    at: int
    size: int
    level: int
    shape: int
    timeout: int


arrivals = st.lists(
    st.builds(Arrival, at=st.integers(0, 2000), size=st.integers(1, 4),
              level=st.integers(0, 3), shape=st.integers(0, 1), timeout=st.integers(0, 600)),
    max_size=40,
).map(lambda xs: sorted(xs, key=lambda a: a.at))


@settings(max_examples=300, deadline=None)
@given(arrivals, st.integers(1, 8), st.lists(st.integers(1, 8), max_size=3),
       st.sampled_from([0, 50, 300]), st.sampled_from([REJECT, DELAY]),
       st.integers(1, 3), st.integers(10, 200))
def test_every_request_answered_once_and_rules_hold(
        items: list[Arrival], max_batch: int, preferred: list[int], delay: int, action: str,
        instances: int, service: int) -> None:
    policy = QueuePolicy(timeout_action=action, allow_timeout_override=True)
    planner: BatchPlanner[int] = BatchPlanner(max_batch, preferred, delay, levels=3,
                                              default_level=2, default_policy=policy)
    sizes = [min(a.size, max_batch) for a in items]
    dispatched: list[int] = []
    expired: list[int] = []
    free_at = [0] * instances
    now = 0
    pending = list(enumerate(items))
    wake: int | None = None
    for _ in range(10_000):
        while pending and pending[0][1].at <= now:
            i, a = pending.pop(0)
            planner.add(Pending(i, sizes[i], a.shape, a.at, planner.level_for(a.level),
                                timeout_ns=a.timeout))
        progressed = False
        for k in range(instances):
            if free_at[k] > now:
                continue
            before = planner._candidates()
            plan = planner.take(now)
            gone = {p.item for p in plan.expired}
            for p in plan.expired:
                assert action == REJECT and p.deadline_ns is not None and p.deadline_ns <= now
                expired.append(p.item)
            wake = plan.wake_ns
            if plan.batch:
                batch = plan.batch
                assert sum(p.size for p in batch) <= max_batch
                assert len({p.signature for p in batch}) == 1
                head = batch[0]
                if head not in planner.delayed:  # priority first, then FIFO within a level
                    rest = [p for p in before if p.item not in gone and p not in batch
                            and p not in planner.delayed]
                    assert all(head.level <= p.level for p in rest)
                    assert all(head.seq < p.seq for p in rest if p.level == head.level)
                dispatched.extend(p.item for p in batch)
                free_at[k] = now + service
                progressed = True
            elif len(planner):
                # waiting is allowed only for a batch that is neither full, preferred nor due
                cands = planner._candidates()
                group, total = [cands[0]], cands[0].size
                for p in cands[1:]:
                    assert p.signature == cands[0].signature and total + p.size <= max_batch
                    group.append(p)
                    total += p.size
                assert delay > 0 and total < max_batch and total not in preferred
                assert now - min(p.arrival_ns for p in group) < delay
        if not pending and not len(planner):
            break
        times = [t for t in free_at if t > now]
        if pending:
            times.append(pending[0][1].at)
        if wake is not None and wake > now:
            times.append(wake)
        if not progressed and not times:
            times.append(now + 1)
        now = min(times) if times else now + 1
    assert sorted(dispatched + expired) == list(range(len(items)))
    assert len(set(dispatched)) == len(dispatched)


def test_full_preferred_batch_leaves_without_waiting() -> None:
    planner: BatchPlanner[str] = BatchPlanner(8, preferred=[4], delay_ns=1_000_000)
    for i in range(3):
        planner.add(Pending(f"r{i}", 1, (), arrival_ns=0))
    plan = planner.take(10)
    assert plan.batch == [] and plan.wake_ns == 1_000_000
    planner.add(Pending("r3", 1, (), arrival_ns=10))
    assert [p.item for p in planner.take(11).batch] == ["r0", "r1", "r2", "r3"]


def test_lone_request_leaves_when_its_delay_is_over() -> None:
    planner: BatchPlanner[str] = BatchPlanner(8, delay_ns=500)
    planner.add(Pending("only", 1, (), arrival_ns=100))
    assert planner.take(599).batch == []
    assert [p.item for p in planner.take(600).batch] == ["only"]


def test_incompatible_shapes_are_not_batched_together() -> None:
    planner: BatchPlanner[str] = BatchPlanner(8, delay_ns=1000)
    planner.add(Pending("a", 1, (3,), 0))
    planner.add(Pending("b", 1, (5,), 0))
    planner.add(Pending("c", 1, (3,), 0))
    assert [p.item for p in planner.take(0).batch] == ["a"]  # blocked by b: leaves at once
    assert [p.item for p in planner.take(0).batch] == ["b"]


def test_priorities_overtake_and_queue_full() -> None:
    policy = QueuePolicy(max_queue_size=2)
    planner: BatchPlanner[str] = BatchPlanner(1, levels=2, default_level=2,
                                              default_policy=policy)
    planner.add(Pending("low1", 1, (), 0, planner.level_for(0)))
    planner.add(Pending("low2", 1, (), 1, planner.level_for(2)))
    with pytest.raises(QueueFull, match="exceeds maximum queue size"):
        planner.add(Pending("low3", 1, (), 2, planner.level_for(2)))
    planner.add(Pending("high", 1, (), 3, planner.level_for(1)))
    assert [planner.take(5).batch[0].item for _ in range(3)] == ["high", "low1", "low2"]
    assert planner.level_for(3) == 2  # out of range: the default level, as Triton


def test_timeouts_reject_or_delay() -> None:
    reject = BatchPlanner[str](1, default_policy=QueuePolicy(default_timeout_ns=100))
    reject.add(Pending("a", 1, (), 0))
    reject.add(Pending("b", 1, (), 50))
    plan = reject.take(120)
    assert [p.item for p in plan.expired] == ["a"] and [p.item for p in plan.batch] == ["b"]
    delay = BatchPlanner[str](1, default_policy=QueuePolicy(DELAY, default_timeout_ns=100))
    delay.add(Pending("late", 1, (), 0))
    delay.take(0)  # "late" runs
    delay.add(Pending("old", 1, (), 0))
    delay.add(Pending("new", 1, (), 150))
    assert [p.item for p in delay.take(160).batch] == ["new"]  # "old" timed out: moved back
    assert [p.item for p in delay.take(161).batch] == ["old"]
    override = BatchPlanner[str](1, default_policy=QueuePolicy(allow_timeout_override=True))
    override.add(Pending("x", 1, (), 0, timeout_ns=10))
    assert [p.item for p in override.take(10).expired] == ["x"]
