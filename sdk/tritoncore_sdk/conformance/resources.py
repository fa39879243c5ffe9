"""What a process holds that a backend could leak: OS threads, fds, child processes, shm."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SHM = Path("/dev/shm")


@dataclass(frozen=True)
class Snapshot:
    threads: int  # OS threads of this process (Python threads where /proc is missing)
    thread_names: tuple[str, ...]  # Python threads, for messages
    fds: int
    children: frozenset[int]  # live child process ids
    shm: frozenset[str]  # /dev/shm entries

    def leaks_since(self, base: Snapshot) -> list[str]:
        """What grew since ``base``, in words; empty when nothing did."""
        out = []
        if self.threads > base.threads:
            new = sorted(set(self.thread_names) - set(base.thread_names))
            out.append(f"{self.threads - base.threads} more thread(s)"
                       + (f" (new Python threads: {', '.join(new)})" if new else ""))
        if self.fds > base.fds:
            out.append(f"{self.fds - base.fds} more open file descriptor(s)")
        if self.children - base.children:
            out.append(f"child process(es) {sorted(self.children - base.children)} still alive")
        if self.shm - base.shm:
            out.append(f"/dev/shm entries left: {sorted(self.shm - base.shm)}")
        return out


def snapshot() -> Snapshot:
    names = tuple(sorted(t.name for t in threading.enumerate()))
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        threads = len(names)
    try:
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        fds = 0
    return Snapshot(threads, names, fds, frozenset(_children()), frozenset(_shm()))


def settle(base: Snapshot, timeout: float = 5.0) -> Snapshot:
    """Snapshots until nothing grew since ``base`` or ``timeout`` passed; the last one."""
    deadline = time.monotonic() + timeout
    while True:
        now = snapshot()
        if not now.leaks_since(base) or time.monotonic() > deadline:
            return now
        time.sleep(0.1)


def _children() -> set[int]:
    me = str(os.getpid())
    found: set[int] = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == me and fields[0] != "Z":
            found.add(int(entry))
    return found


def _shm() -> set[str]:
    try:
        return {p.name for p in SHM.iterdir() if p.stat().st_uid == os.getuid()}
    except OSError:
        return set()
