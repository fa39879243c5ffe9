"""tritoncore-sdk: helpers for backend authors, a project template and the conformance kit.

    from tritoncore_sdk import BatchedInstance, ModelConfigView

See docs/backend-guide.md in the tritoncore repository for the lifecycle and guarantees.
"""

from tritoncore_sdk.batched import BatchedInstance
from tritoncore_sdk.config import ModelConfigView, TensorSpec
from tritoncore_sdk.conversions import datatype_of, numpy_dtype, torch_dtype
from tritoncore_sdk.errors import as_triton_error, error_response
from tritoncore_sdk.log import backend_logger, model_logger

__version__ = "0.1.0"

__all__ = [
    "BatchedInstance",
    "ModelConfigView",
    "TensorSpec",
    "as_triton_error",
    "backend_logger",
    "datatype_of",
    "error_response",
    "model_logger",
    "numpy_dtype",
    "torch_dtype",
]
