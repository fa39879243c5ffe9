"""What a frontend implements: a listener that turns a protocol into ``Server`` calls."""

from __future__ import annotations

import abc
import os
from typing import TYPE_CHECKING, ClassVar

from tritoncore.errors import ErrorCode, TritonError

if TYPE_CHECKING:
    from tritoncore.server import Server


class Frontend(abc.ABC):
    """A protocol endpoint (HTTP, gRPC, metrics, ...). Knows ``Server`` and nothing below it."""

    name: ClassVar[str]

    def __init__(self, server: Server) -> None:
        self.server = server

    def enabled(self) -> bool:
        """Whether the server's options ask for this frontend (``--allow-http`` ...)."""
        return True

    @abc.abstractmethod
    async def start(self) -> None:
        """Start listening; return once requests are accepted."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop accepting new requests (in-flight ones are finished by the server)."""


def cannot_listen(what: str, address: str, flag: str, reason: str | OSError) -> TritonError:
    """The start-up error of a frontend that cannot have its port: what to change."""
    if isinstance(reason, OSError):
        reason = os.strerror(reason.errno) if reason.errno else str(reason)
    return TritonError(ErrorCode.UNAVAILABLE, f"{what} frontend cannot listen on {address} "
                       f"({reason}); choose another {flag} or stop what uses it")
