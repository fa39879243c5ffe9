"""The sequence batcher: requests of one sequence (correlation ID) go, in order, to the one
instance the sequence is bound to, with Triton's control inputs and implicit state.

Each instance has ``max(1, max_batch_size)`` sequence slots. A sequence takes a slot with
its START request (waiting while all slots are busy), keeps it until its END request ran
or it was idle for ``max_sequence_idle_microseconds``. A batch holds at most one request per
sequence, so a sequence's requests run one after another, in arrival order.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tritoncore import dtypes
from tritoncore.errors import ErrorCode, TritonError, invalid_arg
from tritoncore.protocol import model_config_pb2 as mc
from tritoncore.scheduling.instance import InstanceRunner
from tritoncore.scheduling.request import (
    SEQUENCE_END,
    SEQUENCE_START,
    InferenceRequest,
    InferenceResponse,
)
from tritoncore.scheduling.scheduler import WorkerScheduler
from tritoncore.tensor import Tensor

Kind = mc.ModelSequenceBatching.Control.Kind
_FLAG = {Kind.CONTROL_SEQUENCE_START: SEQUENCE_START, Kind.CONTROL_SEQUENCE_END: SEQUENCE_END}


def has_correlation(request: InferenceRequest) -> bool:
    return request.correlation_id not in (0, "", None)


@dataclass
class Sequence:
    """One live sequence: its queued requests, its slot and its implicit state."""

    corr_id: int | str
    queue: collections.deque[InferenceRequest] = field(default_factory=collections.deque)
    runner: int | None = None  # index of the instance holding its slot
    last_ns: int = 0
    ending: bool = False  # its END request was queued
    state: dict[str, Tensor] = field(default_factory=dict)


class SequenceBatcher(WorkerScheduler):
    """``sequence_batching`` (direct and oldest strategies share this slot model)."""

    def __init__(self, model_name: str, runners: list[InstanceRunner], config: Any,
                 model_dir: Any = None, clock: Callable[[], int] = time.monotonic_ns) -> None:
        super().__init__(model_name, runners)
        self.config = config
        sb = config.sequence_batching
        self.idle_ns = (sb.max_sequence_idle_microseconds or 1_000_000) * 1000
        self.batch_limit = max(1, config.max_batch_size)
        # direct: one slot per batch position; oldest: up to max_candidate_sequences sequences
        # per instance, batches made of the oldest waiting requests among them
        self.oldest = sb.WhichOneof("strategy_choice") == "oldest"
        self.slots = (sb.oldest.max_candidate_sequences or self.batch_limit) if self.oldest \
            else self.batch_limit
        self.clock = clock
        self.controls = [(ci.name, c) for ci in sb.control_input for c in ci.control]
        self.corrid_types = [dtypes.by_config_name(mc.DataType.Name(c.data_type))
                             for _, c in self.controls if c.kind == Kind.CONTROL_SEQUENCE_CORRID]
        self.states = list(sb.state)
        self.sequences: dict[int | str, Sequence] = {}
        self.bound: list[set[int | str]] = [set() for _ in runners]
        self.waiting: collections.deque[Sequence] = collections.deque()  # no free slot yet
        self.events = [asyncio.Event() for _ in runners]
        self._index = {id(r): i for i, r in enumerate(runners)}

    # -- admission ---------------------------------------------------------------------------
    def _depth(self, runner: InstanceRunner) -> int:
        return 1  # a sequence's next request needs the state its previous one left

    def _admit(self, request: InferenceRequest) -> None:
        name = self.model_name
        if not has_correlation(request):
            raise invalid_arg(f"inference request to model '{name}' must specify a non-zero or "
                              "non-empty correlation ID (sequence_id): it uses sequence batching")
        corr = request.correlation_id
        for dt in self.corrid_types:
            _check_corrid(name, corr, dt)
        seq = self.sequences.get(corr)
        if request.flags & SEQUENCE_START:
            if seq is not None and (seq.queue or seq.runner is not None) and not seq.ending:
                raise invalid_arg(f"sequence {corr!r} of model '{name}' is still in progress: "
                                  "end it (sequence_end) before starting it again")
            if seq is None:
                seq = Sequence(corr)
                self.sequences[corr] = seq
                self.waiting.append(seq)
            elif seq.ending:  # restarted before its END ran: queue behind it, same slot
                seq.ending = False
        elif seq is None or seq.ending:
            raise invalid_arg(f"inference request for sequence {corr!r} to model '{name}' must "
                              "specify the START flag on the first request of the sequence")
        if request.flags & SEQUENCE_END:
            seq.ending = True
        seq.queue.append(request)
        seq.last_ns = self.clock()
        if self.states:
            self._capture_state(request, seq)
        self._bind_waiting()
        if seq.runner is not None:
            self.events[seq.runner].set()

    def _bind_waiting(self) -> None:
        while self.waiting:
            free = [i for i, b in enumerate(self.bound) if len(b) < self.slots]
            if not free:
                return
            seq = self.waiting.popleft()
            index = min(free, key=lambda i: len(self.bound[i]))
            seq.runner = index
            self.bound[index].add(seq.corr_id)
            self.events[index].set()

    def _release(self, seq: Sequence) -> None:
        if seq.runner is not None:
            self.bound[seq.runner].discard(seq.corr_id)
            seq.runner = None
        if self.sequences.get(seq.corr_id) is seq:
            del self.sequences[seq.corr_id]
        self._bind_waiting()

    def pending(self) -> int:
        return sum(len(seq.queue) for seq in self.sequences.values())

    # -- batches -----------------------------------------------------------------------------
    async def next_batch(self, runner: InstanceRunner) -> list[InferenceRequest]:
        index = self._index[id(runner)]
        event = self.events[index]
        while True:
            event.clear()
            self._reap_idle()
            batch: list[InferenceRequest] = []
            ready = [self.sequences[c] for c in self.bound[index] if self.sequences[c].queue]
            if self.oldest:
                ready.sort(key=lambda q: q.queue[0].arrival_ns)
            for seq in ready[: self.batch_limit]:
                request = seq.queue.popleft()
                try:
                    self._inject(request, seq)
                except Exception as exc:  # noqa: BLE001 - this request's error, not a stuck queue
                    assert request.sender is not None
                    request.sender.fail(TritonError(
                        ErrorCode.INTERNAL, f"model '{self.model_name}': the sequence controls "
                                            f"of sequence {seq.corr_id!r} failed: {exc}"))
                else:
                    batch.append(request)
                if request.flags & SEQUENCE_END and not seq.queue:
                    self._release(seq)
            if batch:
                return batch
            try:
                await asyncio.wait_for(event.wait(), self.idle_ns / 1e9)
            except asyncio.TimeoutError:
                pass

    def _reap_idle(self) -> None:
        """Free the slots of sequences that sent nothing for ``max_sequence_idle``."""
        now = self.clock()
        for seq in list(self.sequences.values()):
            if not seq.queue and seq.runner is not None and now - seq.last_ns >= self.idle_ns:
                self._release(seq)

    def _inject(self, request: InferenceRequest, seq: Sequence) -> None:
        """Add the control inputs (START, END, READY, CORRID) and the implicit state."""
        batched = self.config.max_batch_size > 0
        for name, control in self.controls:
            if control.kind == Kind.CONTROL_SEQUENCE_CORRID:
                dt = dtypes.by_config_name(mc.DataType.Name(control.data_type))
                value: Any = request.correlation_id
                array = (np.array([str(value).encode()], dtype=np.object_) if dt.is_bytes
                         else np.array([value], dtype=dt.numpy))
                datatype = dt.name
            else:
                on = (True if control.kind == Kind.CONTROL_SEQUENCE_READY
                      else bool(request.flags & _FLAG[control.kind]))
                array, datatype = _flag_tensor(control, on)
            if batched:
                array = array.reshape(1, -1)
            request.inputs[name] = Tensor.from_numpy(name, array, datatype)
        for state in self.states:
            if state.input_name not in seq.state or request.flags & SEQUENCE_START:
                seq.state[state.input_name] = self._initial_state(state, batched)
            request.inputs[state.input_name] = seq.state[state.input_name]

    def _initial_state(self, state: Any, batched: bool) -> Tensor:
        dt = dtypes.by_config_name(mc.DataType.Name(state.data_type))
        dims = [max(1, int(d)) for d in state.dims]
        array = np.zeros(([1] if batched else []) + dims, dtype=dt.numpy)
        return Tensor.from_numpy(state.input_name, array, dt.name)

    def _capture_state(self, request: InferenceRequest, seq: Sequence) -> None:
        """Keep each state output for the sequence's next request; clients do not see it
        unless they asked for it by name."""
        assert request.sender is not None
        deliver = request.sender.deliver
        asked = set(request.requested_outputs or ())
        names = {s.output_name: s.input_name for s in self.states}

        def keep_state(response: InferenceResponse) -> None:
            for tensor in response.outputs:
                if tensor.name in names:
                    seq.state[names[tensor.name]] = Tensor(
                        names[tensor.name], tensor.datatype, tensor.shape, tensor.data)
            response.outputs = [t for t in response.outputs
                                if t.name not in names or t.name in asked]
            deliver(response)

        request.sender.deliver = keep_state


def _check_corrid(model: str, corr: int | str, dt: dtypes.DataType) -> None:
    """A correlation ID the CORRID control input of type ``dt`` can carry, or INVALID_ARG."""
    if dt.is_bytes:
        return
    if isinstance(corr, str):
        raise invalid_arg(f"sequence id {corr!r} is a string, but model '{model}' takes its "
                          f"CORRID control as {dt.name}: send an integer sequence id")
    if np.dtype(dt.numpy).kind not in "iu":
        return
    info = np.iinfo(dt.numpy)
    if not info.min <= corr <= info.max:
        raise invalid_arg(f"sequence id {corr} does not fit model '{model}''s CORRID control "
                          f"of type {dt.name} ({info.min}..{info.max})")


def _flag_tensor(control: Any, on: bool) -> tuple[np.ndarray, str]:
    """The [false, true] value pair of a START/END/READY control, as a one-element tensor."""
    if control.fp32_false_true:
        return np.array([control.fp32_false_true[int(on)]], dtype=np.float32), "FP32"
    if control.int32_false_true:
        return np.array([control.int32_false_true[int(on)]], dtype=np.int32), "INT32"
    if control.bool_false_true:
        return np.array([control.bool_false_true[int(on)]], dtype=np.bool_), "BOOL"
    return np.array([on], dtype=np.bool_), "BOOL"
