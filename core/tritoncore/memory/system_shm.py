"""Client-registered system shared-memory regions (POSIX shm under /dev/shm).

A region maps ``byte_size`` bytes at ``offset`` of the shm object ``key`` once, at
registration; tensors are then views into it. Every access is bounds-checked.
"""

from __future__ import annotations

import mmap
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

from tritoncore.errors import ErrorCode, TritonError, invalid_arg, not_found

SHM_DIR = "/dev/shm"
_KEY = re.compile(r"^/?[A-Za-z0-9_.\-]{1,250}$")


@dataclass
class Region:
    """One registered region."""

    name: str
    key: str
    offset: int
    byte_size: int
    view: memoryview  # exactly the registered bytes
    _map: mmap.mmap

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "key": self.key, "offset": self.offset,
                "byte_size": self.byte_size}


def _path(key: str) -> str:
    if not _KEY.match(key) or key.strip("/") in (".", ".."):
        raise invalid_arg(
            f"shared memory key '{key}' is not a valid POSIX shm name: use '/name' with "
            "letters, digits, '_', '.' or '-'"
        )
    return os.path.join(SHM_DIR, key.lstrip("/"))


def disabled_error() -> TritonError:
    return TritonError(
        ErrorCode.UNSUPPORTED,
        "client shared memory is disabled on this server; start it with --allow-client-shm=true",
    )


class SystemSharedMemory:
    """The registry of system shm regions; thread-safe. Registration needs ``allowed``."""

    def __init__(self, allowed: bool) -> None:
        self.allowed = allowed
        self._regions: dict[str, Region] = {}
        self._lock = threading.Lock()

    def register(self, name: str, key: str, offset: int, byte_size: int) -> None:
        """Map a region; ALREADY_EXISTS if ``name`` is taken, INVALID_ARG if out of bounds."""
        if not self.allowed:
            raise disabled_error()
        if not name:
            raise invalid_arg("a shared memory region needs a name")
        if offset < 0 or byte_size <= 0:
            raise invalid_arg(
                f"shared memory region '{name}': offset must be >= 0 and byte_size > 0 "
                f"(got offset {offset}, byte_size {byte_size})"
            )
        path = _path(key)
        with self._lock:
            if name in self._regions:
                raise TritonError(ErrorCode.ALREADY_EXISTS,
                                  f"shared memory region '{name}' is already registered")
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                raise invalid_arg(
                    f"shared memory region '{name}': no shm object '{key}' exists"
                ) from None
            except OSError as exc:
                raise invalid_arg(
                    f"shared memory region '{name}': cannot open '{key}': {exc.strerror}"
                ) from None
            try:
                size = os.fstat(fd).st_size
                if offset + byte_size > size:
                    raise invalid_arg(
                        f"shared memory region '{name}': offset {offset} + byte_size "
                        f"{byte_size} exceeds the {size} bytes of '{key}'"
                    )
                mapped = mmap.mmap(fd, size)
            finally:
                os.close(fd)
            view = memoryview(mapped)[offset : offset + byte_size]
            self._regions[name] = Region(name, key, offset, byte_size, view, mapped)

    def unregister(self, name: str | None = None) -> None:
        """Forget one region (``name``) or all of them; views still in use stay valid."""
        with self._lock:
            names = [name] if name else list(self._regions)
            for n in names:
                region = self._regions.pop(n, None)
                if region is not None:
                    region.view.release()

    def status(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if name:
                if name not in self._regions:
                    raise not_found(f"shared memory region '{name}' is not registered")
                return [self._regions[name].status()]
            return [r.status() for r in self._regions.values()]

    def origin(self, name: str, offset: int) -> tuple[str, int]:
        """(shm key, offset within the shm object) of ``offset`` in region ``name``."""
        with self._lock:
            region = self._regions[name]
        return region.key, region.offset + offset

    def view(self, name: str, offset: int, byte_size: int) -> memoryview:
        """``byte_size`` bytes at ``offset`` within region ``name`` (bounds-checked)."""
        with self._lock:
            region = self._regions.get(name)
        if region is None:  # NOT_FOUND (HTTP 404), as Triton answers
            raise not_found(f"shared memory region '{name}' is not registered")
        if offset < 0 or byte_size < 0 or offset + byte_size > region.byte_size:
            raise invalid_arg(
                f"shared memory region '{name}': offset {offset} + byte_size {byte_size} is "
                f"outside the region's {region.byte_size} bytes"
            )
        return region.view[offset : offset + byte_size]
