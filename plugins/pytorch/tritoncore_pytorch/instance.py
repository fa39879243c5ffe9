"""One model instance: its own module copy on its device, its CUDA stream, its execute."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tritoncore.backend import ModelInstance
from tritoncore.errors import TritonError, internal
from tritoncore.memory import copies, destinations, pinned_pool
from tritoncore.scheduling.batching import run_groups, shape_groups
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse
from tritoncore.tensor import MemoryKind, Tensor

from tritoncore_pytorch.specs import TensorSpec, dims_match
from tritoncore_pytorch.torch_types import to_numpy, to_torch, triton_name

if TYPE_CHECKING:
    from tritoncore_pytorch.model import TorchModel

log = logging.getLogger(__name__)


class TorchInstance(ModelInstance):
    """Runs batches of requests through one module; never called concurrently."""

    def __init__(self, model: TorchModel, name: str, device: torch.device, module: Any,
                 stream: torch.cuda.Stream | None = None) -> None:
        self.model = model
        self.name = name
        self.device = device
        self.module = module
        self.is_script = isinstance(module, torch.jit.ScriptModule)
        self.stream = stream  # the instance's CUDA stream: a batch's copies and compute on it
        self.batching = model.max_batch_size > 0
        self._blocks: list[pinned_pool.PinnedBlock] = []

    # ---------------------------------------------------------------------------------------

    def execute(self, requests: list[InferenceRequest]) -> list[InferenceResponse]:
        """One response per request; requests with the same shapes run as one batch."""
        groups = shape_groups(requests, self.batching)
        return run_groups(requests, groups, self._run, self._failure)

    def _failure(self, exc: Exception) -> TritonError:
        return internal(f"model '{self.model.name}' instance '{self.name}': PyTorch execute "
                        f"failure: {type(exc).__name__}: {exc!s}")

    def _run(self, requests: list[InferenceRequest]) -> list[list[Tensor]]:
        try:
            return self._run_batch(requests)
        except BaseException:
            if self._blocks and self.stream is not None:
                self.stream.synchronize()  # uploads may still read the staging blocks
            raise
        finally:  # pinned staging blocks go back once the batch's uploads are done
            for block in self._blocks:
                block.release()
            self._blocks.clear()

    def _run_batch(self, requests: list[InferenceRequest]) -> list[list[Tensor]]:
        model = self.model
        sizes = [r.batch_size(model.max_batch_size) for r in requests]
        with self._context():
            values = {spec.name: self._gather(spec, requests) for spec in model.inputs
                      if spec.name in requests[0].inputs}
            args, kwargs = model.binding.arguments(values)
            result = self.module(*args, **kwargs)
            wanted = _wanted(model.outputs, requests)
            found = model.binding.results(result, [s.name for s in wanted])
            for s in wanted:
                self._check(s, found[s.name], sum(sizes))
            # Outputs every request wants in GPU memory (CUDA shm) stay on the device; the
            # others come to the host, asynchronously on the stream.
            host = {s.name: self._to_host(found[s.name]) for s in wanted
                    if found[s.name].device.type == "cpu"
                    or not all(s.name in r.output_devices for r in requests)}
            if self.stream is not None:
                self.stream.synchronize()  # the one wait per batch: outputs are on the host
        if self.stream is not None and model.params.enable_cache_cleaning:
            torch.cuda.empty_cache()
        return self._scatter(requests, sizes, wanted, host, found)

    @contextlib.contextmanager
    def _context(self) -> Iterator[None]:
        params = self.model.params
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.inference_mode() if params.inference_mode
                                else torch.no_grad())
            if self.is_script and params.disable_optimized_execution:
                stack.enter_context(torch.jit.optimized_execution(False))
            if self.stream is not None:
                stack.enter_context(torch.cuda.device(self.device))
                stack.enter_context(torch.cuda.stream(self.stream))
            yield

    def _gather(self, spec: TensorSpec, requests: list[InferenceRequest]) -> torch.Tensor:
        """One tensor of the batch on the instance's device (one copy when batching)."""
        tensors = [r.inputs[spec.name] for r in requests]
        if self.stream is not None and all(t.memory is not MemoryKind.GPU for t in tensors):
            # Host inputs for a GPU: one copy straight into pinned memory, then one
            # asynchronous upload on the instance's stream.
            value = self._staged(spec, tensors)
        else:
            parts = [to_torch(t) for t in tensors]
            value = parts[0] if len(parts) == 1 else torch.cat(parts)
        if spec.reshape is not None:
            lead = [value.shape[0]] if self.batching else []
            value = value.reshape([*lead, *spec.reshape])
        if value.device != self.device:
            if self.device.type == "cpu":
                copies.record(copies.DEVICE_TO_HOST, value.numel() * value.element_size())
            elif value.device.type == "cpu":
                copies.record(copies.HOST_TO_DEVICE, value.numel() * value.element_size())
            value = value.to(self.device, non_blocking=True)
        return value

    def _staged(self, spec: TensorSpec, tensors: list[Tensor]) -> torch.Tensor:
        """The batch of host inputs in page-locked memory (one copy of each request's bytes)."""
        if len(tensors) == 1:
            part = to_torch(tensors[0])
            staging = self._pinned(tuple(part.shape), part.dtype)
            staging.copy_(part)
            return staging
        arrays = [np.ascontiguousarray(t.as_numpy()) for t in tensors]
        staging = self._pinned((sum(a.shape[0] for a in arrays), *arrays[0].shape[1:]),
                               spec.dtype)
        copy_rows(staging, arrays)
        return staging

    def _check(self, spec: TensorSpec, value: torch.Tensor, batch: int) -> None:
        """Check an output against the config."""
        name = self.model.name
        if value.dtype != spec.dtype:
            raise internal(
                f"model '{name}': output '{spec.name}' is {triton_name(value.dtype)}, but the "
                f"config says {spec.datatype}; fix data_type or cast in the model"
            )
        shape = tuple(value.shape)
        if self.batching:
            if not shape or shape[0] != batch:
                raise internal(
                    f"model '{name}': output '{spec.name}' has shape {list(shape)}; its first "
                    f"dimension must be the batch size {batch} (max_batch_size > 0)"
                )
            shape = shape[1:]
        expected = spec.reshape if spec.reshape is not None else spec.dims
        if not dims_match(shape, expected):
            raise internal(
                f"model '{name}': output '{spec.name}' has shape {list(value.shape)}, the "
                f"config says {list(expected)}" + (" after the batch dimension"
                                                    if self.batching else "")
            )

    def _pinned(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """Page-locked staging: a block of the server's pinned pool (given back after the
        batch), else torch's caching host allocator."""
        nbytes = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
        block = pinned_pool.pool().acquire(nbytes)
        if block is None:
            return torch.empty(shape, dtype=dtype, pin_memory=True)
        self._blocks.append(block)
        raw = torch.from_numpy(block.array(np.uint8, (nbytes,)))
        return raw.view(dtype).reshape(shape)

    def _to_host(self, value: torch.Tensor) -> torch.Tensor:
        """An output in host memory (one counted device-to-host copy from a GPU): on a GPU
        instance, into pinned staging on the stream (a pool block is copied out per request
        in ``_scatter`` and goes back after the batch)."""
        if value.device.type != "cpu":
            copies.record(copies.DEVICE_TO_HOST, value.numel() * value.element_size())
            if self.stream is None:
                return value.to("cpu")
            staging = self._pinned(tuple(value.shape), value.dtype)
            staging.copy_(value, non_blocking=True)
            value = staging
        return value

    def _copy_out(self, request: InferenceRequest, spec: TensorSpec,
                  value: np.ndarray) -> Tensor:
        """An output that is a view of a pinned-pool block, copied to where it goes: the
        client's system shm region when the request names one (then marked written), else
        fresh host memory."""
        ref = destinations.of(request).get(spec.name)
        system_shm = getattr(self.model.ctx.server, "system_shm", None)
        target = destinations.host_buffer(system_shm, ref, value.nbytes)
        if target is None or ref is None:
            return Tensor(spec.name, spec.datatype, value.shape, value.copy())
        array = target.view(value.dtype).reshape(value.shape)
        array[...] = value
        return Tensor(spec.name, spec.datatype, value.shape, array,
                      shm_written=(ref.region, ref.offset, value.nbytes))

    def _scatter(self, requests: list[InferenceRequest], sizes: list[int],
                 wanted: list[TensorSpec], host: dict[str, torch.Tensor],
                 found: dict[str, torch.Tensor]) -> list[list[Tensor]]:
        """Split the batch's outputs back into one output list per request."""
        # Host outputs become numpy once per batch: a numpy slice per request costs less
        # than slicing the torch tensor and converting each slice.
        arrays = {name: to_numpy(value) for name, value in host.items()}
        pooled = {name for name, array in arrays.items() if pinned_pool.pool().holds(array)}
        results = []
        offset = 0
        for request, size in zip(requests, sizes):
            outputs = []
            for spec in wanted:
                if request.requested_outputs is not None and \
                        spec.name not in request.requested_outputs:
                    continue
                on_device = spec.name not in host
                value: Any = found[spec.name] if on_device else arrays[spec.name]
                if self.batching:
                    value = value[offset:offset + size]
                if spec.reshape is not None:
                    lead = [size] if self.batching else []
                    value = value.reshape([*lead, *spec.dims])
                if on_device:  # a torch view on the GPU (DLPack-capable)
                    if value.dtype == torch.bfloat16:  # cupy has no bfloat16: bit patterns
                        value = value.view(torch.int16)
                    outputs.append(Tensor(spec.name, spec.datatype, tuple(value.shape), value,
                                          MemoryKind.GPU, value.device.index or 0))
                    continue
                if spec.name in pooled:  # its block goes back after the batch
                    outputs.append(self._copy_out(request, spec, value))
                    continue
                outputs.append(Tensor(spec.name, spec.datatype, value.shape, value))
            results.append(outputs)
            offset += size
        return results

    def finalize(self) -> None:
        self.module = None
        if self.stream is not None:
            self.stream.synchronize()
            torch.cuda.empty_cache()


def copy_rows(out: torch.Tensor, arrays: list[np.ndarray]) -> None:
    """Write ``arrays`` (C-contiguous, host) one after another into ``out`` (contiguous,
    host), byte for byte.

    A plain memcpy per request under the GIL, on purpose: ``torch.cat`` copies input by input,
    forking and joining its intra-op thread pool for each, and numpy copies release and retake
    the GIL for each, waiting up to a GIL switch interval (5 ms) whenever the event loop runs.
    """
    dst = out.view(torch.uint8).numpy().data.cast("B")
    offset = 0
    for array in arrays:
        src = array.data.cast("B")
        dst[offset:offset + src.nbytes] = src
        offset += src.nbytes
    if offset != dst.nbytes:
        raise internal(f"gathered {offset} bytes into a {dst.nbytes}-byte batch buffer")


def _wanted(outputs: list[TensorSpec], requests: list[InferenceRequest]) -> list[TensorSpec]:
    """Outputs any request of the batch asked for, in config order."""
    if any(r.requested_outputs is None for r in requests):
        return outputs
    names = {n for r in requests for n in r.requested_outputs or ()}
    return [s for s in outputs if s.name in names]

