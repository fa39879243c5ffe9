"""Model warmup (``model_warmup``): synthetic requests run on every instance before READY."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tritoncore import dtypes
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.protocol import model_config_pb2 as mc
from tritoncore.scheduling.instance import InstanceRunner
from tritoncore.scheduling.request import InferenceRequest, InferenceResponse, ResponseSender
from tritoncore.tensor import Tensor

WARMUP_DIR = "warmup"


def warmup_inputs(config: Any, warmup: Any, model_dir: Path) -> dict[str, Tensor]:
    """The tensors one warmup sample describes (zero, random or file data)."""
    rng = np.random.default_rng(0)
    tensors = {}
    for name, spec in warmup.inputs.items():
        dt = dtypes.by_config_name(mc.DataType.Name(spec.data_type))
        shape = tuple(int(d) for d in spec.dims)
        if config.max_batch_size > 0:
            shape = (max(1, warmup.batch_size), *shape)
        kind = spec.WhichOneof("input_data_type")
        count = int(np.prod(shape))
        if kind == "input_data_file":
            raw = (model_dir / WARMUP_DIR / spec.input_data_file).read_bytes()
            if dt.is_bytes:
                tensor = Tensor.from_numpy(name, np.array([raw] * count, np.object_)
                                           .reshape(shape))
            else:
                per_sample = len(raw)
                data = (raw * (count * dt.byte_size // max(per_sample, 1) + 1))[
                    : count * dt.byte_size]
                tensor = Tensor.from_buffer(name, dt.name, shape, data)
        elif dt.is_bytes:
            tensor = Tensor.from_numpy(name, np.full(shape, b"", dtype=np.object_))
        elif kind == "random_data" and dt.numpy.kind == "f":
            tensor = Tensor.from_numpy(name, rng.random(shape).astype(dt.numpy), dt.name)
        elif kind == "random_data":
            tensor = Tensor.from_buffer(name, dt.name, shape,
                                        rng.integers(0, 2, count * dt.byte_size, np.uint8)
                                        .tobytes())
        else:
            tensor = Tensor.from_buffer(name, dt.name, shape, bytes(count * dt.byte_size))
        tensors[name] = tensor
    return tensors


async def warm_up(config: Any, model_dir: Path, runners: list[InstanceRunner]) -> None:
    """Run every warmup sample ``count`` times on every instance; raise on the first error."""
    for warmup in config.model_warmup:
        inputs = warmup_inputs(config, warmup, model_dir)
        for runner in runners:
            for _ in range(max(1, warmup.count)):
                errors: list[TritonError] = []

                def deliver(response: InferenceResponse,
                            errors: list[TritonError] = errors) -> None:
                    if response.error is not None:
                        errors.append(response.error)

                request = InferenceRequest(config.name, dict(inputs), id=f"warmup:{warmup.name}")
                request.sender = ResponseSender(deliver)
                await runner.run([request])
                if errors:
                    raise TritonError(ErrorCode.INTERNAL,
                                      f"model '{config.name}': warmup '{warmup.name}' failed on "
                                      f"instance '{runner.name}': {errors[0].message}")
