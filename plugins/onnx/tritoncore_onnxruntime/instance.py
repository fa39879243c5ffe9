"""One model instance: its own ONNX Runtime session; execute gathers, runs, scatters."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort
from tritoncore import dtypes
from tritoncore.backend import ModelInstance
from tritoncore.errors import TritonError, internal, invalid_arg
from tritoncore.scheduling.batching import run_groups, shape_groups
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.tensor import MemoryKind, Tensor

from tritoncore_onnxruntime.specs import TensorSpec

if TYPE_CHECKING:
    from tritoncore_onnxruntime.model import OnnxModel


class OnnxInstance(ModelInstance):
    """Runs batches of requests through one session; never called concurrently."""

    def __init__(self, model: OnnxModel, name: str, kind: str, device_id: int,
                 session: ort.InferenceSession, run_options: ort.RunOptions | None) -> None:
        self.model = model
        self.name = name
        self.kind = kind
        self.device_id = device_id
        self.session = session
        self.run_options = run_options
        self.batching = model.max_batch_size > 0
        self.provider = session.get_providers()[0]
        self.string_inputs = [s for s in model.inputs if s.datatype == "BYTES"]

    def execute(self, requests: list[InferenceRequest]) -> list[InferenceResponse]:
        """One response per request; requests with the same shapes run as one batch. A
        request whose BYTES input onnxruntime cannot take fails alone, before batching."""
        texts: dict[tuple[int, str], np.ndarray] = {}
        responses = [InferenceResponse()] * len(requests)
        valid = []
        for i, r in enumerate(requests):
            try:
                for spec in self.string_inputs:
                    if spec.name in r.inputs:
                        texts[(id(r), spec.name)] = self._text(spec, r.inputs[spec.name].as_numpy())
            except TritonError as error:
                responses[i] = InferenceResponse(error=error)
            else:
                valid.append(i)
        batch = [requests[i] for i in valid]
        groups = shape_groups(batch, self.batching, _on_gpu)
        done = run_groups(batch, groups, lambda group: self._run(group, texts), self._failure)
        for i, response in zip(valid, done):
            responses[i] = response
        return responses

    def _text(self, spec: TensorSpec, value: np.ndarray) -> np.ndarray:
        """BYTES elements as the str objects onnxruntime takes for ``tensor(string)``.

        onnxruntime's Python API converts str to and from UTF-8 and has no way to pass other
        bytes, so an element that is not UTF-8 is the client's INVALID_ARG, not a crash.
        """
        flat = value.reshape(-1)
        out = np.empty(flat.shape, dtype=object)
        for i, v in enumerate(flat):
            if not isinstance(v, bytes):
                out[i] = str(v)
                continue
            try:
                out[i] = v.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise invalid_arg(
                    f"model '{self.model.name}': input '{spec.name}' element {i} is not valid "
                    f"UTF-8 (byte 0x{v[exc.start]:02x} at offset {exc.start}); the ONNX Runtime "
                    "backend passes BYTES to tensor(string) inputs as UTF-8 text"
                ) from None
        return out.reshape(value.shape)

    def _failure(self, exc: Exception) -> TritonError:
        return internal(f"model '{self.model.name}' instance '{self.name}': ONNX Runtime execute "
                        f"failure: {type(exc).__name__}: {str(exc).strip()}")

    def _run(self, requests: list[InferenceRequest],
             texts: dict[tuple[int, str], np.ndarray]) -> list[list[Tensor]]:
        model = self.model
        sizes = [r.batch_size(model.max_batch_size) for r in requests]
        wanted = _wanted(model.outputs, requests)
        names = [s.name for s in wanted]
        present = [s for s in model.inputs if s.name in requests[0].inputs]
        try:
            if any(requests[0].inputs[s.name].memory is MemoryKind.GPU for s in present):
                results = self._run_bound(requests[0], present, names, texts)
            else:
                feed = {s.name: self._gather(s, requests, texts) for s in present}
                results = self.session.run(names, feed, self.run_options)
        except UnicodeDecodeError as exc:  # a tensor(string) output onnxruntime cannot return
            raise internal(
                f"model '{model.name}': a string output of the model is not valid UTF-8 "
                f"({exc.reason}), which onnxruntime's Python API cannot return"
            ) from None
        host = {s.name: self._check(s, np.asarray(v), sum(sizes))
                for s, v in zip(wanted, results)}
        return _scatter(requests, sizes, wanted, host, self.batching)

    def _gather(self, spec: TensorSpec, requests: list[InferenceRequest],
                texts: dict[tuple[int, str], np.ndarray]) -> np.ndarray:
        parts = [texts[(id(r), spec.name)] if spec.datatype == "BYTES"
                 else r.inputs[spec.name].as_numpy() for r in requests]
        value = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if spec.reshape is not None:
            lead = [value.shape[0]] if self.batching else []
            value = value.reshape([*lead, *spec.reshape])
        return value

    def _run_bound(self, request: InferenceRequest, present: list[TensorSpec],
                   names: list[str], texts: dict[tuple[int, str], np.ndarray]
                   ) -> list[np.ndarray]:
        """GPU inputs bound in place through IO binding (no host round trip)."""
        if self.kind != "KIND_GPU" or self.provider == "CPUExecutionProvider":
            raise invalid_arg(
                f"model '{self.model.name}' instance '{self.name}' runs on {self.provider}; "
                "send its inputs in host memory (GPU inputs need a KIND_GPU instance)"
            )
        binding = self.session.io_binding()
        for spec in present:
            tensor = request.inputs[spec.name]
            if tensor.memory is MemoryKind.GPU:
                binding.bind_input(spec.name, "cuda", tensor.device_id,
                                   dtypes.by_name(spec.datatype).numpy, list(tensor.shape),
                                   _device_pointer(tensor))
            else:
                binding.bind_cpu_input(spec.name, self._gather(spec, [request], texts))
        for name in names:
            binding.bind_output(name)
        self.session.run_with_iobinding(binding, self.run_options)
        return list(binding.copy_outputs_to_cpu())

    def _check(self, spec: TensorSpec, value: np.ndarray, batch: int) -> np.ndarray:
        if self.batching and (value.ndim == 0 or value.shape[0] != batch):
            raise internal(
                f"model '{self.model.name}': output '{spec.name}' has shape "
                f"{list(value.shape)}; its first dimension must be the batch size {batch}"
            )
        return value

    def finalize(self) -> None:
        self.session = None  # type: ignore[assignment]


def _device_pointer(tensor: Tensor) -> int:
    """The device address of a GPU tensor (CUDA array interface, or torch's data_ptr)."""
    data = tensor.data
    interface = getattr(data, "__cuda_array_interface__", None)
    if interface is not None:
        return int(interface["data"][0])
    if hasattr(data, "data_ptr"):
        return int(data.data_ptr())
    raise invalid_arg(f"input '{tensor.name}': GPU data of type {type(data).__name__} exposes "
                      "no device pointer (__cuda_array_interface__)")


def _wanted(outputs: list[TensorSpec], requests: list[InferenceRequest]) -> list[TensorSpec]:
    if any(r.requested_outputs is None for r in requests):
        return outputs
    names = {n for r in requests for n in r.requested_outputs or ()}
    return [s for s in outputs if s.name in names]


def _scatter(requests: list[InferenceRequest], sizes: list[int], wanted: list[TensorSpec],
             host: dict[str, np.ndarray], batching: bool) -> list[list[Tensor]]:
    results = []
    offset = 0
    for request, size in zip(requests, sizes):
        outputs = []
        for spec in wanted:
            if request.requested_outputs is not None and \
                    spec.name not in request.requested_outputs:
                continue
            value = host[spec.name]
            if batching:
                value = value[offset:offset + size]
            if spec.reshape is not None:
                value = value.reshape([*([size] if batching else []), *spec.dims])
            if spec.datatype == "BYTES":  # onnxruntime hands back str elements
                value = np.array([v.encode() if isinstance(v, str) else v
                                  for v in value.reshape(-1)], dtype=object).reshape(value.shape)
            outputs.append(Tensor.from_numpy(spec.name, value, spec.datatype))
        results.append(outputs)
        offset += size
    return results


def _on_gpu(request: InferenceRequest) -> bool:
    """GPU inputs run one request at a time (they are bound in place, not gathered)."""
    return any(t.memory is MemoryKind.GPU for t in request.inputs.values())
