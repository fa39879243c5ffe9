"""FifoScheduler pushing requests to instances with the callback form (``submit``) and a
pipeline depth: which instance gets what, when, and that every request is answered once."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tritoncore.backend import BatchDone, ModelInstance
from tritoncore.config.parse import parse_model_config_text
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.scheduling.dynamic import DynamicBatcher
from tritoncore.scheduling.instance import InstanceRunner
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse, ResponseSender
from tritoncore.scheduling.scheduler import FifoScheduler
from tritoncore.scheduling.stats import ModelStats
from tritoncore.tensor import Tensor


class HandDriven(ModelInstance):
    """Holds submitted batches until the test finishes them (like a stub process would)."""

    def __init__(self, depth: int) -> None:
        self.pipeline_depth = depth
        self.held: list[tuple[list[InferenceRequest], BatchDone]] = []
        self.seen: list[str] = []

    def execute(self, requests: list[InferenceRequest]) -> list[InferenceResponse]:
        raise AssertionError("the core must call submit")

    def submit(self, requests: list[InferenceRequest], done: BatchDone) -> None:
        self.seen += [r.id for r in requests]
        self.held.append((requests, done))

    def finish_oldest(self, error: TritonError | None = None) -> None:
        requests, done = self.held.pop(0)
        if error is not None:
            done(None, error)
        else:
            done([InferenceResponse([Tensor.from_numpy("OUT", r.inputs["IN"].as_numpy() * 2)])
                  for r in requests], None)


class Answers:
    def __init__(self) -> None:
        self.got: dict[str, list[InferenceResponse]] = {}

    def request(self, rid: str, value: float) -> InferenceRequest:
        r = InferenceRequest("m", {"IN": Tensor.from_numpy("IN", np.array([value], np.float32))},
                             id=rid)
        r.sender = ResponseSender(lambda resp: self.got.setdefault(rid, []).append(resp))
        return r


def setup(depths: list[int]) -> tuple[FifoScheduler, list[HandDriven]]:
    instances = [HandDriven(d) for d in depths]
    runners = [InstanceRunner("m", f"m_{i}", inst, ModelStats(), 0, False)
               for i, inst in enumerate(instances)]
    scheduler = FifoScheduler("m", runners)
    scheduler.start()
    return scheduler, instances


def test_least_busy_instance_first_and_at_most_depth_each() -> None:
    async def go() -> None:
        scheduler, (a, b) = setup([2, 2])
        answers = Answers()
        for i in range(5):
            scheduler.enqueue(answers.request(str(i), float(i)))
        assert (a.seen, b.seen) == (["0", "2"], ["1", "3"])
        assert scheduler.pending() == 1
        b.finish_oldest()  # "1" answered; "4" goes to b, the only instance with room
        assert answers.got["1"][0].outputs[0].as_numpy().tolist() == [2.0]
        assert b.seen == ["1", "3", "4"] and scheduler.pending() == 0
        a.finish_oldest(TritonError(ErrorCode.UNAVAILABLE, "stub went away"))
        assert answers.got["0"][0].error is not None
        assert answers.got["0"][0].error.message == "stub went away"
        for inst in (a, b, b):
            inst.finish_oldest()
        assert {k: [r.outputs[0].as_numpy().tolist() for r in v]
                for k, v in answers.got.items() if k != "0"} == {
            "1": [[2.0]], "2": [[4.0]], "3": [[6.0]], "4": [[8.0]]}
        assert all(len(v) == 1 and v[0].final for v in answers.got.values())
        await asyncio.wait_for(scheduler.drain(), 1)

    asyncio.run(go())


def test_drain_waits_for_every_outstanding_request() -> None:
    async def go() -> None:
        scheduler, (a,) = setup([1])
        answers = Answers()
        for i in range(2):
            scheduler.enqueue(answers.request(str(i), float(i)))
        drains = [asyncio.ensure_future(scheduler.drain()) for _ in range(2)]
        await asyncio.sleep(0.01)
        with pytest.raises(TritonError, match="unloading"):
            scheduler.enqueue(answers.request("late", 9.0))
        a.finish_oldest()  # "1" is still queued behind it
        await asyncio.sleep(0.01)
        assert not any(d.done() for d in drains) and a.seen == ["0", "1"]
        a.finish_oldest()
        await asyncio.wait_for(asyncio.gather(*drains), 1)
        assert sorted(answers.got) == ["0", "1"]
        await asyncio.wait_for(scheduler.drain(), 1)  # nothing outstanding: at once

    asyncio.run(go())


def test_an_instance_that_answers_inside_submit_does_not_recurse() -> None:
    class AtOnce(HandDriven):
        def submit(self, requests: list[InferenceRequest], done: BatchDone) -> None:
            super().submit(requests, done)
            self.finish_oldest()

    async def go() -> None:
        instance = AtOnce(1)
        runner = InstanceRunner("m", "m_0", instance, ModelStats(), 0, False)
        scheduler = FifoScheduler("m", [runner])
        scheduler.start()
        answers = Answers()
        for i in range(3000):  # deeper than the recursion limit, were it recursive
            scheduler.enqueue(answers.request(str(i), 1.0))
        assert len(instance.seen) == 3000 and len(answers.got) == 3000
        assert scheduler.pending() == 0

    asyncio.run(go())


def test_submit_is_preferred_to_an_async_execute() -> None:
    """The Python backend has both forms; the awaitable one costs a task per batch."""
    class BothForms(HandDriven):
        async def execute(  # type: ignore[override]
                self, requests: list[InferenceRequest]) -> list[InferenceResponse]:
            raise AssertionError("the core must call submit")

    async def go() -> None:
        instance = BothForms(1)
        runner = InstanceRunner("m", "m_0", instance, ModelStats(), 0, False)
        answers = Answers()
        finished: list[bool] = []
        runner.start([answers.request("a", 3.0)], lambda: finished.append(True))
        assert instance.seen == ["a"] and not finished  # begun synchronously, still held
        instance.finish_oldest()
        assert finished == [True]
        assert answers.got["a"][0].outputs[0].as_numpy().tolist() == [6.0]
        run = asyncio.get_running_loop().create_task(runner.run([answers.request("b", 1.0)]))
        await asyncio.sleep(0)
        assert instance.seen == ["a", "b"]
        instance.finish_oldest()
        await asyncio.wait_for(run, 1)
        assert answers.got["b"][0].outputs[0].as_numpy().tolist() == [2.0]

    asyncio.run(go())


def test_the_dynamic_batcher_holds_at_most_two_batches_of_a_deeper_instance() -> None:
    config = parse_model_config_text(
        'name: "m" max_batch_size: 2 input [{ name: "IN" data_type: TYPE_FP32 dims: [1] }]\n'
        "dynamic_batching { max_queue_delay_microseconds: 0 }")

    async def go() -> None:
        instance = HandDriven(4)
        runner = InstanceRunner("m", "m_0", instance, ModelStats(), 2, False)
        batcher = DynamicBatcher("m", [runner], config)
        batcher.start()
        answers = Answers()
        for i in range(8):
            batcher.enqueue(answers.request(str(i), float(i)))
        for _ in range(20):
            await asyncio.sleep(0)
        assert [len(batch) for batch, _ in instance.held] == [2, 2]  # not 4 batches
        assert batcher.pending() == 4
        while instance.held:
            instance.finish_oldest()
            for _ in range(20):
                await asyncio.sleep(0)
        assert sorted(answers.got, key=int) == [str(i) for i in range(8)]
        await asyncio.wait_for(batcher.drain(), 1)
        fifo, (deep,) = setup([4])
        for i in range(8):
            fifo.enqueue(answers.request(f"f{i}", 1.0))
        assert len(deep.held) == 4 and fifo.pending() == 4  # FIFO uses the whole depth

    asyncio.run(go())


@settings(max_examples=200, deadline=None)
@given(depths=st.lists(st.integers(1, 3), min_size=1, max_size=3),
       steps=st.lists(st.one_of(st.just(-1), st.integers(0, 2)), max_size=60))
def test_fifo_order_depth_bound_and_one_answer_each(depths: list[int], steps: list[int]) -> None:
    """Random arrivals (-1) and completions (instance index): requests start in arrival
    order, no instance holds more than its depth, and each gets exactly one answer."""

    async def go() -> None:
        scheduler, instances = setup(depths)
        answers = Answers()
        sent = 0
        for step in steps + [i for i in range(len(instances)) for _ in range(100)]:
            if step == -1:
                scheduler.enqueue(answers.request(str(sent), float(sent)))
                sent += 1
            elif step < len(instances) and instances[step].held:
                instances[step].finish_oldest()
            for inst in instances:
                assert len(inst.held) <= inst.pipeline_depth
        started = sorted(int(rid) for inst in instances for rid in inst.seen)
        assert started == list(range(sent))
        for inst in instances:  # each instance saw its share in arrival order
            assert inst.seen == sorted(inst.seen, key=int)
        assert sorted(answers.got) == sorted(str(i) for i in range(sent))
        assert all(len(v) == 1 for v in answers.got.values())

    asyncio.run(go())


class Expecting(HandDriven):
    """Records the batcher's ``expect`` calls, and when each batch came."""

    def __init__(self) -> None:
        super().__init__(2)
        self.expected: list[int] = []
        self.arrived: list[int] = []

    def expect(self, at_ns: int) -> None:
        self.expected.append(at_ns)

    def submit(self, requests: list[InferenceRequest], done: BatchDone) -> None:
        self.arrived.append(time.monotonic_ns())
        super().submit(requests, done)


def test_the_dynamic_batcher_tells_the_instance_when_it_will_get_the_held_batch() -> None:
    config = parse_model_config_text(
        'name: "m" max_batch_size: 4 input [{ name: "IN" data_type: TYPE_FP32 dims: [1] }]\n'
        "dynamic_batching { max_queue_delay_microseconds: 20000 }")

    async def go() -> None:
        instance = Expecting()
        batcher = DynamicBatcher("m", [InstanceRunner("m", "m_0", instance, ModelStats(), 4,
                                                      False)], config)
        batcher.start()
        answers = Answers()
        first = answers.request("0", 0.0)
        batcher.enqueue(first)
        for _ in range(10):
            await asyncio.sleep(0)
        batcher.enqueue(answers.request("1", 1.0))  # the same held batch: no second notice
        await asyncio.sleep(0.05)
        # both workers of the instance looked at the queue; one notice for the one deadline
        assert len(instance.expected) == 1
        assert abs(instance.expected[0] - (first.arrival_ns + 20_000_000)) < 1_000_000
        assert instance.seen == ["0", "1"]  # one batch, sent at the deadline, not before
        assert instance.arrived[0] >= instance.expected[0]
        instance.finish_oldest()
        await asyncio.wait_for(batcher.drain(), 1)

    asyncio.run(go())
