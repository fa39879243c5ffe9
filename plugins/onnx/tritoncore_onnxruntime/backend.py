"""The ONNX Runtime backend: ``model.onnx`` files (or directories with external data)."""

from __future__ import annotations

from tritoncore.backend import AutoCompleteContext, Backend, Model, ModelContext

from tritoncore_onnxruntime import autocomplete
from tritoncore_onnxruntime.files import DEFAULT_FILENAME
from tritoncore_onnxruntime.model import OnnxModel


class OnnxRuntimeBackend(Backend):
    """Triton's ``onnxruntime`` backend (platform ``onnxruntime_onnx``).

    GPU instances are the default, as in Triton; without GPUs the core makes them CPU ones.
    """

    name = "onnxruntime"
    instance_kinds = ("KIND_GPU", "KIND_CPU")
    default_model_filename = DEFAULT_FILENAME

    def auto_complete_config(self, ctx: AutoCompleteContext) -> None:
        autocomplete.complete(ctx)

    def load_model(self, ctx: ModelContext) -> Model:
        return OnnxModel(ctx)
