"""One error type with Triton's codes, and the one table mapping codes to HTTP and gRPC status."""

from __future__ import annotations

import enum


class ErrorCode(enum.Enum):
    """Triton's error codes (TRITONSERVER_Error_Code / pb_utils.TritonError codes)."""

    UNKNOWN = 0
    INTERNAL = 1
    NOT_FOUND = 2
    INVALID_ARG = 3
    UNAVAILABLE = 4
    UNSUPPORTED = 5
    ALREADY_EXISTS = 6
    CANCELLED = 7


# code -> (HTTP status, gRPC status code name); the only place this mapping lives.
STATUS_TABLE: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.UNKNOWN: (400, "UNKNOWN"),
    ErrorCode.INTERNAL: (500, "INTERNAL"),
    ErrorCode.NOT_FOUND: (404, "NOT_FOUND"),
    ErrorCode.INVALID_ARG: (400, "INVALID_ARGUMENT"),
    ErrorCode.UNAVAILABLE: (503, "UNAVAILABLE"),
    ErrorCode.UNSUPPORTED: (501, "UNIMPLEMENTED"),
    ErrorCode.ALREADY_EXISTS: (400, "ALREADY_EXISTS"),
    ErrorCode.CANCELLED: (400, "CANCELLED"),
}


class TritonError(Exception):
    """An error with a Triton code and a message that says what to fix."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return STATUS_TABLE[self.code][0]

    @property
    def grpc_status(self) -> str:
        return STATUS_TABLE[self.code][1]

    def __repr__(self) -> str:
        return f"TritonError({self.code.name}, {self.message!r})"


def invalid_arg(message: str) -> TritonError:
    return TritonError(ErrorCode.INVALID_ARG, message)


def not_found(message: str) -> TritonError:
    return TritonError(ErrorCode.NOT_FOUND, message)


def unavailable(message: str) -> TritonError:
    return TritonError(ErrorCode.UNAVAILABLE, message)


def internal(message: str) -> TritonError:
    return TritonError(ErrorCode.INTERNAL, message)


def unsupported(message: str) -> TritonError:
    return TritonError(ErrorCode.UNSUPPORTED, message)
