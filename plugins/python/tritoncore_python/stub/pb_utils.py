"""``triton_python_backend_utils``: the API Triton's model.py files import as ``pb_utils``.

Same names and behaviour as Triton's python backend; the stub process wires the parts that
need the server (response senders, BLS, model control, logging) through ``_RUNTIME``.
Type tables come from tritoncore.dtypes (importable without the rest of tritoncore).
"""

from __future__ import annotations

import enum
import json
import struct
from typing import Any

import numpy as np
from tritoncore import dtypes
from tritoncore.errors import ErrorCode
from tritoncore.tensor import deserialize_bytes

TRITONSERVER_RESPONSE_COMPLETE_FINAL = 1
TRITONSERVER_REQUEST_RELEASE_ALL = 1
TRITONSERVER_REQUEST_RELEASE_RESCHEDULE = 2
TRITONSERVER_REQUEST_FLAG_SEQUENCE_START = 1
TRITONSERVER_REQUEST_FLAG_SEQUENCE_END = 2
TRITONSERVER_MEMORY_CPU = 0
TRITONSERVER_MEMORY_GPU = 2

# TYPE_BOOL = 1 ... TYPE_STRING = 13, TYPE_BF16 = 14, from the one dtype table.
for _t in dtypes.TABLE:
    globals()[_t.config_name] = _t.code
TRITON_STRING_TO_NUMPY = {t.config_name: (np.object_ if t.is_bytes else t.numpy.type)
                          for t in dtypes.TABLE}

#: Set by the stub: an object with send_response, bls, model_control, log, cancelled.
_RUNTIME: Any = None

#: numpy dtype -> Triton type for the native-order types (what ``dtypes.from_numpy`` answers
#: for them, without its normalization on every Tensor); other dtypes, and its errors, go
#: through ``from_numpy``.
_FROM_NUMPY = {t.numpy: t for t in dtypes.TABLE if t.name != "BF16"}
_BYTES = dtypes.by_name("BYTES")


class TritonError(Exception):
    """An error a model returns in a response (or raises); codes as Triton's."""

    UNKNOWN = ErrorCode.UNKNOWN.value
    INTERNAL = ErrorCode.INTERNAL.value
    NOT_FOUND = ErrorCode.NOT_FOUND.value
    INVALID_ARG = ErrorCode.INVALID_ARG.value
    UNAVAILABLE = ErrorCode.UNAVAILABLE.value
    UNSUPPORTED = ErrorCode.UNSUPPORTED.value
    ALREADY_EXISTS = ErrorCode.ALREADY_EXISTS.value
    CANCELLED = ErrorCode.CANCELLED.value

    def __init__(self, message: str, code: int = INTERNAL) -> None:
        super().__init__(message)
        self._message = message
        self._code = code

    def message(self) -> str:
        return self._message

    def code(self) -> int:
        return self._code


class TritonModelException(TritonError):
    """What pb_utils raises (a BLS ``exec()`` that failed, a closed response sender, ...), as
    Triton's does: ``except pb_utils.TritonModelException`` catches them."""


class PreferredMemory:
    """Where a BLS caller would like outputs (accepted; outputs are on the CPU here)."""

    def __init__(self, preferred_memory_type: int = TRITONSERVER_MEMORY_CPU,
                 preferred_device_id: int = 0) -> None:
        self.preferred_memory_type = preferred_memory_type
        self.preferred_device_id = preferred_device_id


class Tensor:
    """A named tensor backed by a numpy array (CPU) or a DLPack object (GPU)."""

    def __init__(self, name: str, array: Any, datatype: str | None = None) -> None:
        self._name = name
        if isinstance(array, np.ndarray):
            array = np.asarray(array)  # a subclass (masked, matrix) as a plain array
            if datatype:
                dt = dtypes.by_name(datatype)
            else:
                dt = _FROM_NUMPY.get(array.dtype) or dtypes.from_numpy(array.dtype)
            if dt is _BYTES and array.dtype != np.object_:
                array = array.astype(np.object_)
            self._dt: dtypes.DataType | None = dt
        elif hasattr(array, "__dlpack__"):
            self._dt = None
        else:  # as Triton's: a list or a scalar is a TypeError, not a guessed tensor
            raise TypeError(f"pb_utils.Tensor('{name}', ...) needs a numpy array or a DLPack "
                            f"tensor, got {type(array).__name__}; wrap it in np.array(...)")
        self._data = array

    @classmethod
    def _wrap(cls, name: str, array: np.ndarray, dt: dtypes.DataType) -> Tensor:
        """A tensor over an array the stub made from wire bytes (its type is already known:
        ``__init__``'s checks and conversions would change nothing)."""
        tensor = cls.__new__(cls)
        tensor._name = name
        tensor._dt = dt
        tensor._data = array
        return tensor

    @classmethod
    def from_dlpack(cls, name: str, capsule: Any) -> Tensor:
        """Wrap a DLPack tensor (torch, cupy, ...): CPU ones become numpy views."""
        device = capsule.__dlpack_device__()[0] if hasattr(capsule, "__dlpack_device__") else 1
        if device == 1:  # kDLCPU
            return cls(name, np.from_dlpack(capsule))
        tensor = cls(name, capsule)
        return tensor

    def name(self) -> str:
        return self._name

    def as_numpy(self) -> np.ndarray:
        if not isinstance(self._data, np.ndarray):  # is_cpu()
            raise TritonModelException(f"tensor '{self._name}' is in GPU memory; use to_dlpack()")
        return self._data  # type: ignore[no-any-return]

    def shape(self) -> list[int]:
        return [int(d) for d in self._data.shape]

    def triton_dtype(self) -> int:
        if self._dt is None:  # a GPU tensor: torch.float32 / cupy float32 -> float32
            return dtypes.from_numpy(np.dtype(str(self._data.dtype).split(".")[-1])).code
        return self._dt.code

    @property
    def datatype(self) -> str:
        """The wire name (``FP32``); tritoncore addition."""
        if self._dt is not None:
            return self._dt.name
        return dtypes.by_code(self.triton_dtype()).name

    def is_cpu(self) -> bool:
        return isinstance(self._data, np.ndarray)

    def to_dlpack(self) -> Any:
        if self.is_cpu():
            if self._data.dtype == np.object_:
                raise TritonModelException(f"tensor '{self._name}' is BYTES, which DLPack cannot carry")
            return self._data.__dlpack__()
        return self._data.__dlpack__()

    def __repr__(self) -> str:
        return f"Tensor({self._name!r}, shape={self.shape()})"


class InferenceResponse:
    """What ``execute`` returns per request (or sends through a response sender)."""

    def __init__(self, output_tensors: list[Tensor] | None = None,
                 error: TritonError | str | None = None,
                 parameters: dict[str, Any] | str | None = None) -> None:
        self._outputs = list(output_tensors or [])
        if isinstance(error, str):
            error = TritonError(error)
        self._error = error
        self._parameters = dict(json.loads(parameters) if isinstance(parameters, str)
                                else parameters or {})

    def output_tensors(self) -> list[Tensor]:
        return self._outputs

    def has_error(self) -> bool:
        return self._error is not None

    def error(self) -> TritonError | None:
        return self._error

    def parameters(self) -> str:
        return json.dumps(self._parameters, separators=(",", ":"))


class InferenceResponseSender:
    """Sends a decoupled request's responses; the last carries COMPLETE_FINAL."""

    def __init__(self, rid: int, requested: list[str]) -> None:
        self._rid = rid
        self._requested = requested  # the request's: which outputs its responses carry
        self._closed = False

    def send(self, response: InferenceResponse | None = None, flags: int = 0) -> None:
        if self._closed:
            raise TritonModelException("Unable to send response. Response sender has been closed.")
        if response is None and flags != TRITONSERVER_RESPONSE_COMPLETE_FINAL:
            raise TritonModelException("send() needs a response unless flags is "
                              "TRITONSERVER_RESPONSE_COMPLETE_FINAL", TritonError.INVALID_ARG)
        if flags & TRITONSERVER_RESPONSE_COMPLETE_FINAL:
            self._closed = True
        _RUNTIME.send_response(self._rid, response, flags, self._requested)

    def is_cancelled(self) -> bool:
        return bool(_RUNTIME.cancelled(self._rid))


class InferenceRequest:
    """A request ``execute`` receives, or (constructed by a model) a BLS request."""

    def __init__(self, model_name: str = "", inputs: list[Tensor] | None = None,
                 requested_output_names: list[str] | None = None, model_version: int = -1,
                 correlation_id: int | str = 0, request_id: str = "", flags: int = 0,
                 timeout: int = 0, preferred_memory: PreferredMemory | None = None,
                 trace: Any = None, parameters: dict[str, Any] | str | None = None,
                 **_: Any) -> None:
        self._model_name = model_name
        self._inputs = list(inputs or [])
        self._requested = list(requested_output_names or [])
        self._model_version = model_version
        self._correlation_id = correlation_id
        self._request_id = request_id
        self._flags = flags
        self._timeout = timeout
        if isinstance(parameters, str):
            parameters = json.loads(parameters) if parameters else {}
        self._parameters = dict(parameters or {})
        self._rid: int | None = None
        self._sender: InferenceResponseSender | None = None
        self._release_flags = TRITONSERVER_REQUEST_RELEASE_ALL

    @classmethod
    def _received(cls, model_name: str, inputs: list[Tensor], entry: tuple[Any, ...],
                  requested: list[str]) -> InferenceRequest:
        """A request of an EXECUTE message (``entry``: its fields, ``stub/wire.py``), without
        ``__init__``'s keyword handling (the fields are fresh from the wire: only their types
        are checked); ``requested``: the outputs it asks for."""
        rid, request_id, _, _, correlation_id, flags, timeout, parameters = entry
        if type(requested) is not list or type(parameters) is not dict:
            request = cls(model_name, inputs, requested, correlation_id=correlation_id,
                          request_id=request_id, flags=flags, timeout=timeout,
                          parameters=parameters)
            request._rid = rid
            return request
        request = cls.__new__(cls)
        request._model_name = model_name
        request._inputs = inputs
        request._requested = requested
        request._model_version = -1
        request._correlation_id = correlation_id
        request._request_id = request_id
        request._flags = flags
        request._timeout = timeout
        request._parameters = parameters
        request._rid = rid
        request._sender = None
        request._release_flags = TRITONSERVER_REQUEST_RELEASE_ALL
        return request

    # -- what execute() reads ------------------------------------------------------------
    def inputs(self) -> list[Tensor]:
        return self._inputs

    def request_id(self) -> str:
        return self._request_id

    def correlation_id(self) -> int | str:
        return self._correlation_id

    def flags(self) -> int:
        return self._flags

    def set_flags(self, flags: int) -> None:
        self._flags = flags

    def timeout(self) -> int:
        return self._timeout

    def parameters(self) -> str:
        return json.dumps(self._parameters, separators=(",", ":"))

    def requested_output_names(self) -> set[str]:
        return set(self._requested)

    def model_name(self) -> str:
        return self._model_name

    def trace(self) -> None:
        return None

    def set_release_flags(self, flags: int) -> None:
        if flags & TRITONSERVER_REQUEST_RELEASE_RESCHEDULE:
            raise TritonModelException("request rescheduling is not supported by tritoncore",
                              TritonError.UNSUPPORTED)
        self._release_flags = flags

    def get_response_sender(self) -> InferenceResponseSender:
        if self._rid is None:
            raise TritonModelException("only requests given to execute() have a response sender")
        if self._sender is None:
            self._sender = InferenceResponseSender(self._rid, self._requested)
        return self._sender

    def is_cancelled(self) -> bool:
        return self._rid is not None and bool(_RUNTIME.cancelled(self._rid))

    # -- BLS ------------------------------------------------------------------------------
    def exec(self, decoupled: bool = False) -> Any:
        """Run this request on another model: its response, or (``decoupled``) an iterator
        of its responses as they arrive, the final one last."""
        if decoupled:
            return _RUNTIME.bls_stream(self)
        return _RUNTIME.bls(self)

    async def async_exec(self, decoupled: bool = False) -> Any:
        if decoupled:  # as Triton's: the iterator itself blocks for each response
            return _RUNTIME.bls_stream(self)
        return await _RUNTIME.bls_async(self)


class LogLevel(enum.IntEnum):
    """``pb_utils.Logger.LogLevel`` (also ``Logger.INFO`` ... ``Logger.VERBOSE``)."""

    INFO = 0
    WARNING = 1
    ERROR = 2
    VERBOSE = 3


class Logger:
    """Log lines that reach the server's log."""

    LogLevel = LogLevel
    INFO = LogLevel.INFO
    WARNING = LogLevel.WARNING
    ERROR = LogLevel.ERROR
    VERBOSE = LogLevel.VERBOSE

    @staticmethod
    def log(message: str, level: int = LogLevel.INFO) -> None:
        _RUNTIME.log(LogLevel(level).name, str(message))

    @staticmethod
    def log_info(message: str) -> None:
        _RUNTIME.log("INFO", str(message))

    @staticmethod
    def log_warn(message: str) -> None:
        _RUNTIME.log("WARNING", str(message))

    @staticmethod
    def log_error(message: str) -> None:
        _RUNTIME.log("ERROR", str(message))

    @staticmethod
    def log_verbose(message: str) -> None:
        _RUNTIME.log("VERBOSE", str(message))


class ModelConfig:
    """What ``auto_complete_config`` receives and returns."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config

    def as_dict(self) -> dict[str, Any]:
        return self._config

    def _name(self) -> str:
        return str(self._config.get("name", ""))

    def set_max_batch_size(self, max_batch_size: int) -> None:
        """Raise the configuration's max_batch_size (never lower it: a ValueError, as in
        Triton)."""
        current = int(self._config.get("max_batch_size", 0) or 0)
        if current > max_batch_size:
            raise ValueError(
                f"model '{self._name()}': the configuration sets max_batch_size {current}, "
                f"auto_complete_config asks for the smaller {max_batch_size}")
        self._config["max_batch_size"] = max_batch_size

    def set_dynamic_batching(self) -> None:
        """Dynamic batching, unless the configuration chose another scheduler."""
        for other in ("sequence_batching", "ensemble_scheduling"):
            if self._config.get(other) is not None:
                raise ValueError(
                    f"model '{self._name()}': the configuration uses {other}; "
                    "auto_complete_config cannot switch it to dynamic_batching")
        self._config.setdefault("dynamic_batching", {})

    def add_input(self, input: dict[str, Any]) -> None:
        self._add("input", input, ("name", "data_type", "dims", "optional"))

    def add_output(self, output: dict[str, Any]) -> None:
        self._add("output", output, ("name", "data_type", "dims"))

    def set_model_transaction_policy(self, policy: dict[str, Any]) -> None:
        unknown = sorted(set(policy) - {"decoupled"})
        if unknown:
            raise ValueError(f"model '{self._name()}': model_transaction_policy has only "
                             f"'decoupled', auto_complete_config set {unknown}")
        current = self._config.setdefault("model_transaction_policy", {})
        if "decoupled" in policy:
            if "decoupled" in current and current["decoupled"] != policy["decoupled"]:
                raise ValueError(
                    f"model '{self._name()}': the configuration sets decoupled "
                    f"{current['decoupled']}, auto_complete_config asks for "
                    f"{policy['decoupled']}")
            current["decoupled"] = policy["decoupled"]

    def _add(self, kind: str, spec: dict[str, Any], allowed: tuple[str, ...]) -> None:
        """An input or output: added, or merged into the configuration's entry of that name
        when they agree (Triton's rules: a data_type or non-empty dims already configured
        must match)."""
        where = f"model '{self._name()}': {kind} {spec.get('name', '')!r} in auto_complete_config"
        unknown = sorted(set(spec) - set(allowed))
        if unknown:
            raise ValueError(f"{where} has {unknown}; allowed: {', '.join(allowed)}")
        for key in ("name", "data_type", "dims"):
            if key not in spec:
                raise ValueError(f"{where} has no '{key}'")
        for item in self._config.setdefault(kind, []):
            if item.get("name") != spec["name"]:
                continue
            configured = item.get("data_type", "TYPE_INVALID")
            if configured != "TYPE_INVALID" and configured != spec["data_type"]:
                raise ValueError(f"{where} has data_type {spec['data_type']}, the "
                                 f"configuration {configured}")
            if item.get("dims") and list(item["dims"]) != list(spec["dims"]):
                raise ValueError(f"{where} has dims {list(spec['dims'])}, the configuration "
                                 f"{list(item['dims'])}")
            if "optional" in item and "optional" in spec and item["optional"] != spec["optional"]:
                raise ValueError(f"{where} has optional {spec['optional']}, the configuration "
                                 f"{item['optional']}")
            item["data_type"] = spec["data_type"]
            item["dims"] = spec["dims"]
            if "optional" in spec:
                item["optional"] = spec["optional"]
            return
        self._config[kind].append(dict(spec))


# -- helpers with Triton's names ------------------------------------------------------------

def get_input_tensor_by_name(request: InferenceRequest, name: str) -> Tensor | None:
    for tensor in request.inputs():
        if tensor.name() == name:
            return tensor
    return None


def get_output_tensor_by_name(response: InferenceResponse, name: str) -> Tensor | None:
    for tensor in response.output_tensors():
        if tensor.name() == name:
            return tensor
    return None


def get_input_config_by_name(model_config: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((i for i in model_config.get("input", []) if i.get("name") == name), None)


def get_output_config_by_name(model_config: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((o for o in model_config.get("output", []) if o.get("name") == name), None)


def using_decoupled_model_transaction_policy(model_config: dict[str, Any]) -> bool:
    return bool((model_config.get("model_transaction_policy") or {}).get("decoupled", False))


def triton_string_to_numpy(triton_type_string: str) -> Any:
    return TRITON_STRING_TO_NUMPY[triton_type_string]


def numpy_to_triton_type(data_type: Any) -> int | None:
    try:
        return dtypes.from_numpy(np.dtype(data_type)).code
    except Exception:  # noqa: BLE001 - Triton answers None for unknown types
        return None


def triton_to_numpy_type(data_type: int) -> Any:
    dt = dtypes.by_code(data_type)
    return np.object_ if dt.is_bytes else dt.numpy.type


def serialize_byte_tensor(input_tensor: np.ndarray) -> np.bytes_ | tuple[()]:
    """Length-prefixed BYTES serialization (as one bytes scalar); an empty tensor gives
    ``()``, as Triton's does."""
    if input_tensor.size == 0:
        return ()
    parts = []
    for item in input_tensor.reshape(-1, order="C"):
        data = item if isinstance(item, bytes) else str(item).encode("utf-8")
        parts.append(struct.pack("<I", len(data)) + data)
    return np.bytes_(b"".join(parts))


def deserialize_bytes_tensor(encoded_tensor: bytes) -> np.ndarray:
    """Inverse of serialize_byte_tensor: an object array of bytes."""
    data = bytes(encoded_tensor)
    count = 0
    pos = 0
    while pos + 4 <= len(data):
        pos += 4 + struct.unpack_from("<I", data, pos)[0]
        count += 1
    return deserialize_bytes(data, count)


def get_model_dir() -> str:
    """The model's version directory (where its model.py is), as Triton's."""
    return str(_RUNTIME.model_dir)


def load_model(model_name: str, config: str = "", files: dict[str, bytes] | None = None) -> None:
    _RUNTIME.model_control("load", model_name, config=config, files=files or {})


def unload_model(model_name: str, unload_dependents: bool = False) -> None:
    _RUNTIME.model_control("unload", model_name, unload_dependents=unload_dependents)


def is_model_ready(model_name: str, model_version: str = "") -> bool:
    return bool(_RUNTIME.model_control("ready", model_name, version=model_version))


class Metric:
    """One labelled metric of a MetricFamily: a counter or gauge value, or (histogram) the
    count of observations in each bucket, their sum and their number."""

    def __init__(self, family: MetricFamily, labels: dict[str, str],
                 buckets: list[float] | None = None) -> None:
        self._family = family
        self._labels = dict(labels)
        self._value = 0.0
        self._buckets = sorted(float(b) for b in buckets or ())
        self._counts = [0] * len(self._buckets)  # observations <= each bound
        self._observed = 0

    def _refuse(self, call: str) -> TritonModelException:
        return TritonModelException(
            f"metric family '{self._family._name}' is a {_KIND_NAMES[self._family._kind]}: "
            f"it has no {call}()", TritonError.INVALID_ARG)

    def _kind_is(self, kind: int, call: str) -> None:
        if self._family._kind != kind:
            raise self._refuse(call)

    def increment(self, value: float) -> None:
        if self._family._kind == MetricFamily.HISTOGRAM:
            raise self._refuse("increment")
        if self._family._kind == MetricFamily.COUNTER and value < 0:
            raise TritonModelException("a counter can only increase", TritonError.INVALID_ARG)
        self._value += value
        _RUNTIME.metric(self._family, self._labels, self._value)

    def set(self, value: float) -> None:
        self._kind_is(MetricFamily.GAUGE, "set")
        self._value = value
        _RUNTIME.metric(self._family, self._labels, self._value)

    def observe(self, value: float) -> None:
        """Count one observation (histograms)."""
        self._kind_is(MetricFamily.HISTOGRAM, "observe")
        for i, bound in enumerate(self._buckets):
            if value <= bound:
                self._counts[i] += 1
        self._value += value
        self._observed += 1
        _RUNTIME.metric(self._family, self._labels, self._value,
                        {"buckets": self._buckets, "counts": self._counts,
                         "count": self._observed})

    def value(self) -> float:
        if self._family._kind == MetricFamily.HISTOGRAM:
            raise self._refuse("value")
        return self._value


class MetricFamily:
    """A custom metric family (COUNTER, GAUGE or HISTOGRAM) shown on the metrics endpoint."""

    COUNTER = 0
    GAUGE = 1
    HISTOGRAM = 2

    def __init__(self, name: str, description: str, kind: int) -> None:
        if kind not in _KIND_NAMES:
            raise TritonModelException(f"metric family '{name}': kind must be COUNTER, GAUGE or "
                                       f"HISTOGRAM, got {kind!r}", TritonError.INVALID_ARG)
        self._name = name
        self._description = description
        self._kind = kind

    def Metric(self, labels: dict[str, str] | None = None,
               buckets: list[float] | None = None) -> Metric:
        """A metric of this family; a histogram's needs ``buckets`` (their upper bounds)."""
        if (self._kind == MetricFamily.HISTOGRAM) != (buckets is not None):
            raise TritonModelException(
                f"metric family '{self._name}': " + ("a histogram's metrics need buckets"
                                                     if buckets is None else
                                                     f"a {_KIND_NAMES[self._kind]} has no buckets"),
                TritonError.INVALID_ARG)
        return Metric(self, labels or {}, buckets)


_KIND_NAMES = {MetricFamily.COUNTER: "counter", MetricFamily.GAUGE: "gauge",
               MetricFamily.HISTOGRAM: "histogram"}
