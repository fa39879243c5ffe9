"""The PyTorch backend: TorchScript ``model.pt`` and ``torch.export`` ``model.pt2`` files."""

from __future__ import annotations

from tritoncore.backend import Backend, Model, ModelContext

from tritoncore_pytorch.model import TorchModel


class PyTorchBackend(Backend):
    """Triton's ``pytorch`` backend (platform ``pytorch_libtorch``).

    GPU instances are the default, as in Triton; on a machine without GPUs the core makes
    them CPU instances.
    """

    name = "pytorch"
    instance_kinds = ("KIND_GPU", "KIND_CPU", "KIND_MODEL")
    default_model_filename = "model.pt"

    def load_model(self, ctx: ModelContext) -> Model:
        return TorchModel(ctx)
