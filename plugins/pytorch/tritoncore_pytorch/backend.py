"""The PyTorch backend: TorchScript ``model.pt`` and ``torch.export`` ``model.pt2`` files."""

from __future__ import annotations

import logging

from tritoncore.backend import AutoCompleteContext, Backend, Model, ModelContext

from tritoncore_pytorch.model import TorchModel

log = logging.getLogger(__name__)


class PyTorchBackend(Backend):
    """Triton's ``pytorch`` backend (platform ``pytorch_libtorch``).

    GPU instances are the default, as in Triton; on a machine without GPUs the core makes
    them CPU instances.
    """

    name = "pytorch"
    instance_kinds = ("KIND_GPU", "KIND_CPU", "KIND_MODEL")
    default_model_filename = "model.pt"

    def auto_complete_config(self, ctx: AutoCompleteContext) -> None:
        """Completes nothing and says so, as Triton's PyTorch backend does: a TorchScript
        file does not record its inputs' and outputs' types and shapes."""
        log.warning("skipping model configuration auto-complete for '%s': not supported by "
                    "the pytorch backend (list inputs and outputs in config.pbtxt)", ctx.name)

    def load_model(self, ctx: ModelContext) -> Model:
        return TorchModel(ctx)
