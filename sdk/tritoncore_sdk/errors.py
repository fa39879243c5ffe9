"""Error helpers: turn whatever a framework raised into a TritonError with a useful message."""

from __future__ import annotations

from tritoncore.errors import ErrorCode, TritonError
from tritoncore.scheduling.request import InferenceResponse

__all__ = ["ErrorCode", "TritonError", "as_triton_error", "error_response"]


def as_triton_error(exc: BaseException, context: str,
                    code: ErrorCode = ErrorCode.INTERNAL) -> TritonError:
    """``exc`` unchanged if it is a TritonError, else one with ``code`` and the context.

    ``context`` says where it happened: ``"model 'resnet' instance 'resnet_0'"``.
    """
    if isinstance(exc, TritonError):
        return exc
    return TritonError(code, f"{context}: {type(exc).__name__}: {exc}")


def error_response(error: BaseException | str,
                   code: ErrorCode = ErrorCode.INTERNAL) -> InferenceResponse:
    """A response carrying an error (for one failed request of a batch)."""
    if isinstance(error, str):
        error = TritonError(code, error)
    return InferenceResponse(error=as_triton_error(error, "backend error", code))
