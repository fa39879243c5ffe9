"""Inference requests and responses, and the sender through which responses flow back.

A request's tensors are views into whatever carried them (an HTTP body, a gRPC message, a
shared-memory region). Every request gets exactly one *final* response: the core enforces it
whatever a backend does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tritoncore.errors import ErrorCode, TritonError
from tritoncore.tensor import Tensor

# Request flags (TRITONSERVER_RequestFlag).
SEQUENCE_START = 1
SEQUENCE_END = 2


@dataclass
class InferenceResponse:
    """Outputs or an error; ``final`` (set by the sender) marks a request's last response."""

    outputs: list[Tensor] = field(default_factory=list)
    error: TritonError | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    final: bool = False


#: Guards every sender's final flag: held for a check and a store, so one lock for all of
#: them costs less than one made for each request.
_FINAL_LOCK = threading.Lock()


class ResponseSender:
    """Delivers a request's responses; thread-safe, refuses anything after the final one."""

    __slots__ = ("_final", "deliver")

    def __init__(self, deliver: Callable[[InferenceResponse], None]) -> None:
        self.deliver = deliver  # replaceable: preserve_ordering wraps it
        self._final = False

    @property
    def is_final(self) -> bool:
        return self._final

    def send(self, response: InferenceResponse | None = None, final: bool = False) -> None:
        """Send a response; ``final=True`` closes the request.

        ``send(None, final=True)`` closes a decoupled request without another response.
        """
        if response is None and not final:
            raise TritonError(ErrorCode.INVALID_ARG, "send() needs a response, or final=True")
        with _FINAL_LOCK:
            if self._final:
                raise TritonError(
                    ErrorCode.INTERNAL, "a response was sent after the request's final response"
                )
            self._final = final
        if response is None:
            response = InferenceResponse()
        response.final = final
        deliver = self.deliver
        if final:
            self._release()
        deliver(response)

    def fail(self, error: TritonError) -> None:
        """Close the request with an error unless it is already closed."""
        with _FINAL_LOCK:
            if self._final:
                return
            self._final = True
        deliver = self.deliver
        self._release()
        deliver(InferenceResponse(error=error, final=True))

    def _release(self) -> None:
        """Drop the delivery callback once the request is closed. It usually reaches back to
        the request (frontend closures, the connection holding the request), and that cycle
        would leave every request's objects to the garbage collector."""
        self.deliver = _closed


def _closed(response: InferenceResponse) -> None:
    raise AssertionError("a closed request's sender delivered a response")  # send() refuses


class CancelFlag:
    """Set once when the client goes away; cheaper than a threading.Event per request.

    ``callbacks`` run (on the setting thread) when it is set, e.g. to tell a model process.
    """

    __slots__ = ("_set", "callbacks")

    def __init__(self) -> None:
        self._set = False
        self.callbacks: list[Callable[[], None]] | None = None

    def set(self) -> None:
        if not self._set:
            self._set = True
            for callback in self.callbacks or ():
                callback()

    def is_set(self) -> bool:
        return self._set

    def on_set(self, callback: Callable[[], None]) -> None:
        if self.callbacks is None:
            self.callbacks = []
        self.callbacks.append(callback)


@dataclass(slots=True)
class InferenceRequest:
    """What a backend's ``execute`` receives (and what frontends build)."""

    model_name: str
    inputs: dict[str, Tensor]
    model_version: int = -1  # -1: the version the policy serves (highest ready)
    id: str = ""
    requested_outputs: list[str] | None = None  # None: every output
    output_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Outputs the client wants in GPU memory (name -> device id; a CUDA shm destination).
    #: A backend that has such an output on a GPU may return it there (MemoryKind.GPU);
    #: every other output comes back in host memory.
    output_devices: dict[str, int] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    correlation_id: int | str = 0
    flags: int = 0
    priority: int = 0
    timeout_us: int = 0
    sender: ResponseSender | None = None
    arrival_ns: int = field(default_factory=time.monotonic_ns)
    cancelled: CancelFlag = field(default_factory=CancelFlag)
    #: the frontend's kept layout this request was decoded from, if any: every request
    #: decoded from one has the same inputs' names, types and shapes, parameters and requested
    #: outputs, so a model's admission checks a layout once
    layout: object | None = None

    def send(self, response: InferenceResponse | None = None, final: bool = False) -> None:
        """Send through this request's sender (decoupled backends call this)."""
        if self.sender is None:
            raise TritonError(ErrorCode.INTERNAL, "request has no response sender")
        self.sender.send(response, final)

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled.is_set()

    def batch_size(self, max_batch_size: int) -> int:
        """The request's batch size: its first dimension for batching models, else 1."""
        if max_batch_size <= 0 or not self.inputs:
            return 1
        first = next(iter(self.inputs.values()))
        return first.shape[0] if first.shape else 1
