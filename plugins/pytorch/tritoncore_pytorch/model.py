"""A loaded PyTorch model version: its config-derived specs, parameters and I/O binding."""

from __future__ import annotations

import logging
import threading
from typing import Any

import torch
from tritoncore.backend import InstanceContext, Model, ModelContext, ModelInstance
from tritoncore.errors import unavailable

from tritoncore_pytorch import process
from tritoncore_pytorch.binding import Binding, forward_arguments
from tritoncore_pytorch.instance import TorchInstance
from tritoncore_pytorch.loading import load_module
from tritoncore_pytorch.parameters import TorchParameters
from tritoncore_pytorch.specs import specs

log = logging.getLogger(__name__)


class TorchModel(Model):
    """Each instance loads its own copy of the module on its device (as Triton does), or,
    with ``ENABLE_WEIGHT_SHARING``, instances on one device share one copy."""

    def __init__(self, ctx: ModelContext) -> None:
        self.ctx = ctx
        self.name = ctx.name
        self.max_batch_size = int(ctx.config.max_batch_size)
        self.params = TorchParameters.from_config(ctx.config)
        self.inputs, self.outputs = specs(ctx.config)
        self.path = ctx.model_file
        self._binding: Binding | None = None
        self._shared: dict[str, Any] = {}
        self._lock = threading.Lock()
        process.apply(self.name, self.params)

    @property
    def binding(self) -> Binding:
        assert self._binding is not None, "binding is set when the first instance loads"
        return self._binding

    def create_instance(self, ctx: InstanceContext) -> ModelInstance:
        device = self._device(ctx)
        module = self._module(device)
        if device is None:  # KIND_MODEL: the model placed itself; feed inputs where it lives
            device = _module_device(module)
        with self._lock:
            if self._binding is None:
                self._binding = Binding.build(self.name, [s.name for s in self.inputs],
                                              [s.name for s in self.outputs],
                                              forward_arguments(module))
        if device.type == "cuda":  # inputs in GPU memory (CUDA shm) go straight in
            self.accepts_gpu_inputs = True
        log.info("model '%s' instance '%s' runs on %s (%s)", self.name, ctx.name, device,
                 "TorchScript" if isinstance(module, torch.jit.ScriptModule) else "torch.export")
        stream = ctx.cuda_stream() if ctx.kind == "KIND_GPU" else None
        if not isinstance(stream, torch.cuda.Stream) and device.type == "cuda":
            stream = torch.cuda.Stream(device=device)  # KIND_MODEL on a GPU, or no core stream
        return TorchInstance(self, ctx.name, device, module, stream)

    def _device(self, ctx: InstanceContext) -> torch.device | None:
        if ctx.kind == "KIND_GPU":
            if not torch.cuda.is_available():
                raise unavailable(
                    f"model '{self.name}' instance '{ctx.name}' is KIND_GPU, but PyTorch sees "
                    f"no CUDA device (torch {torch.__version__}); use KIND_CPU, or KIND_AUTO "
                    "to use a GPU when there is one"
                )
            if ctx.device_id >= torch.cuda.device_count():
                raise unavailable(
                    f"model '{self.name}' instance '{ctx.name}' asks for GPU {ctx.device_id}, "
                    f"but PyTorch sees {torch.cuda.device_count()} GPU(s)"
                )
            return torch.device("cuda", ctx.device_id)
        if ctx.kind == "KIND_MODEL":
            return None
        return torch.device("cpu")

    def _module(self, device: torch.device | None) -> Any:
        key = str(device)
        if self.params.enable_weight_sharing:
            with self._lock:
                if key not in self._shared:
                    self._shared[key] = _prepare(load_module(self.name, self.path, device))
                return self._shared[key]
        return _prepare(load_module(self.name, self.path, device))

    def finalize(self) -> None:
        self._shared.clear()


def _prepare(module: Any) -> Any:
    """Inference mode for modules (dropout off, batch norm frozen)."""
    if hasattr(module, "eval"):
        try:
            module.eval()
        except (NotImplementedError, RuntimeError):
            pass  # torch.export modules may refuse train/eval switching; they are traced already
    return module


def _module_device(module: Any) -> torch.device:
    try:
        return next(iter(module.parameters())).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")
