"""A deserialized engine and one execution context per instance (TensorRT 10 API: named I/O
tensors, ``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``).

UNTESTED on real engines in this repository: TensorRT cannot be installed where it is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tritoncore.errors import invalid_arg
from tritoncore_sdk import torch_dtype

from tritoncore_tensorrt import library
from tritoncore_tensorrt.plan import EngineIO, ProfileShape, bind_inputs


def load_engine(path: Path) -> Any:
    """Deserialize ``model.plan``; INVALID_ARG naming the file when TensorRT refuses it."""
    trt = library.tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(path.read_bytes())
    if engine is None:
        raise invalid_arg(f"{path}: TensorRT could not deserialize the engine (built with "
                          "another TensorRT version or for another GPU?)")
    engine._tritoncore_runtime = runtime  # the runtime must outlive the engine
    return engine


def describe(engine: Any) -> list[EngineIO]:
    """The engine's I/O tensors as plain ``EngineIO`` records."""
    trt = library.tensorrt()
    out = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
        shape = tuple(int(d) for d in engine.get_tensor_shape(name))
        profiles: tuple[ProfileShape, ...] = ()
        if is_input and -1 in shape:
            profiles = tuple(
                ProfileShape(*(tuple(int(d) for d in s)
                               for s in engine.get_tensor_profile_shape(name, p)))
                for p in range(engine.num_optimization_profiles))
        out.append(EngineIO(name, is_input, engine.get_tensor_dtype(name).name, shape,
                            profiles))
    return out


class Execution:
    """One execution context bound to one optimization profile and one CUDA stream."""

    def __init__(self, engine: Any, io: list[EngineIO], profile: int, device: int) -> None:
        self.torch = library.torch_cuda()
        self.io = io
        self.profile = profile
        self.device = self.torch.device("cuda", device)
        self.stream = self.torch.cuda.Stream(self.device)
        self.context = engine.create_execution_context()
        if engine.num_optimization_profiles > 1 or profile:
            self.context.set_optimization_profile_async(profile, self.stream.cuda_stream)

    def run(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Inputs (torch tensors or numpy arrays) -> host numpy outputs, on this stream."""
        torch = self.torch
        shapes = {name: tuple(value.shape) for name, value in inputs.items()}
        bound = bind_inputs(self.io, shapes, self.profile)
        keep = []
        with torch.cuda.stream(self.stream):
            for name, shape in bound.items():
                value = inputs[name]
                tensor = (value if isinstance(value, torch.Tensor) else torch.from_numpy(value))
                tensor = tensor.to(self.device, non_blocking=True).contiguous()
                keep.append(tensor)
                self.context.set_input_shape(name, shape)
                self.context.set_tensor_address(name, tensor.data_ptr())
            outputs = {}
            for t in self.io:
                if t.is_input:
                    continue
                shape = tuple(int(d) for d in self.context.get_tensor_shape(t.name))
                dtype = torch_dtype(t.datatype)
                buf = torch.empty(shape, dtype=dtype, device=self.device)
                self.context.set_tensor_address(t.name, buf.data_ptr())
                outputs[t.name] = buf
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise invalid_arg("TensorRT execute_async_v3 failed (see the server log)")
            host = {name: buf.to("cpu", non_blocking=True) for name, buf in outputs.items()}
        self.stream.synchronize()
        return {name: _to_numpy(torch, value) for name, value in host.items()}


def _to_numpy(torch: Any, value: Any) -> Any:
    if value.dtype == torch.bfloat16:
        return value.view(torch.int16).numpy().view("uint16")
    return value.numpy()
