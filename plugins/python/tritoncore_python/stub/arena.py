"""A shared-memory arena: one unlinked /dev/shm file mapped by the server and one stub.

Each direction has its own arena; only its writer allocates (first fit, 64-byte aligned, with
coalescing) and grows it. The file is unlinked as soon as it is created and reaches the stub
as an inherited file descriptor, so nothing is left in /dev/shm whatever happens to either
process. Growth reserves the pages with ``posix_fallocate``: a full /dev/shm becomes a clear
error instead of a SIGBUS on first touch.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from bisect import bisect_left

ALIGN = 64
SHM_DIR = "/dev/shm"


class ArenaFull(Exception):
    """The system refused to grow the arena (its shared-memory limit)."""


def create_fd(prefix: str, size: int) -> int:
    """A new unlinked shared-memory file of ``size`` bytes, as an inheritable fd."""
    directory = SHM_DIR if os.path.isdir(SHM_DIR) else tempfile.gettempdir()
    fd, path = tempfile.mkstemp(prefix=prefix, dir=directory)
    os.unlink(path)
    os.set_inheritable(fd, True)
    try:
        _reserve(fd, size)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _reserve(fd: int, size: int) -> None:
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        raise ArenaFull(
            f"cannot reserve {size} bytes of shared memory ({exc.strerror}); the system's "
            f"shared-memory limit (the size of {SHM_DIR}, e.g. docker --shm-size) is too small"
        ) from None


class Arena:
    """A mapping of an arena file that follows the file's size."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.size = 0
        self.map: mmap.mmap | None = None
        self.view = memoryview(b"")
        self.ensure(os.fstat(fd).st_size)

    def ensure(self, size: int) -> None:
        """Remap when the file grew to ``size`` (the writer says so in its messages).

        Views handed out earlier keep the old mapping alive and stay valid.
        """
        if size <= self.size:
            return
        self.map = mmap.mmap(self.fd, size)
        self.view = memoryview(self.map)
        self.size = size

    def close(self) -> None:
        self.view = memoryview(b"")
        self.map = None  # closed by the GC once no view uses it
        os.close(self.fd)


class Allocator:
    """First-fit allocation in an arena this process writes; grows the arena when full."""

    def __init__(self, arena: Arena, growth: int) -> None:
        self.arena = arena
        self.growth = max(growth, ALIGN)
        self.free_list: list[tuple[int, int]] = [(0, arena.size)]  # (offset, size), sorted
        self.used: dict[int, int] = {}

    def alloc(self, nbytes: int) -> int:
        """The offset of ``nbytes`` of free space (0-byte requests get offset 0, no space)."""
        if nbytes == 0:
            return 0
        need = -(-nbytes // ALIGN) * ALIGN
        for i, (offset, size) in enumerate(self.free_list):
            if size >= need:
                if size == need:
                    del self.free_list[i]
                else:
                    self.free_list[i] = (offset + need, size - need)
                self.used[offset] = need
                return offset
        self._grow(need)
        return self.alloc(nbytes)

    def free(self, offset: int) -> None:
        size = self.used.pop(offset, 0)
        if not size:
            return
        spans = self.free_list
        i = bisect_left(spans, (offset, 0))
        if i < len(spans) and offset + size == spans[i][0]:  # joins the span after it
            size += spans[i][1]
            del spans[i]
        if i > 0 and sum(spans[i - 1]) == offset:  # and the one before it
            spans[i - 1] = (spans[i - 1][0], spans[i - 1][1] + size)
        else:
            spans.insert(i, (offset, size))

    def _grow(self, need: int) -> None:
        old = self.arena.size
        new = old + max(self.growth, need)
        _reserve(self.arena.fd, new)
        self.arena.ensure(new)
        if self.free_list and sum(self.free_list[-1]) == old:
            last = self.free_list.pop()
            self.free_list.append((last[0], last[1] + new - old))
        else:
            self.free_list.append((old, new - old))

    def write(self, data: memoryview | bytes) -> tuple[int, int]:
        """Copy ``data`` into new space; returns (offset, nbytes)."""
        src = memoryview(data).cast("B")
        offset = self.alloc(src.nbytes)
        self.arena.view[offset : offset + src.nbytes] = src
        return offset, src.nbytes


class ClientRegions:
    """Client-registered system shm objects, mapped on first use (copy-on-write, so a model
    that writes into an input never changes the client's data)."""

    LIMIT = 64  # mappings kept; the oldest is dropped beyond this

    def __init__(self) -> None:
        self.maps: dict[str, tuple[mmap.mmap, memoryview]] = {}

    def view(self, key: str, offset: int, nbytes: int) -> memoryview:
        mapped = self.maps.get(key)
        if mapped is None or offset + nbytes > len(mapped[1]):
            fd = os.open(os.path.join(SHM_DIR, key.lstrip("/")), os.O_RDONLY)
            try:
                m = mmap.mmap(fd, os.fstat(fd).st_size, access=mmap.ACCESS_COPY)
            finally:
                os.close(fd)
            if len(self.maps) >= self.LIMIT:
                self.maps.pop(next(iter(self.maps)))
            mapped = self.maps[key] = (m, memoryview(m))
        return mapped[1][offset : offset + nbytes]
