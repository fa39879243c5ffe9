"""The server's side of one stub process: spawn, control channel, arenas, death detection."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tritoncore
from tritoncore.loop_poll import LoopPoller, for_loop
from tritoncore.errors import ErrorCode, TritonError

import tritoncore_python
from tritoncore_python.stub.arena import Allocator, Arena, create_fd
from tritoncore_python.stub.channel import Decoder, Message, encode

log = logging.getLogger("tritoncore_python")

#: Replies to the one main-thread operation in flight (init, finalize, autocomplete); replies to
#: executes (EXECUTED, or an error carrying the execute's id) go to its waiter.
REPLY_OPS = frozenset({"ready", "finalized", "config", "error", "fatal"})

Waiter = Callable[[Message | TritonError], None]


class StubDied(TritonError):
    """The stub process ended while the server was waiting for it."""


def stub_pythonpath() -> str:
    """What a stub needs on sys.path: this package and tritoncore's light modules."""
    paths = {str(Path(tritoncore_python.__file__).resolve().parent.parent),
             str(Path(tritoncore.__file__).resolve().parent.parent)}
    current = os.environ.get("PYTHONPATH")
    return os.pathsep.join([*sorted(paths), *([current] if current else [])])


class StubProcess:
    """A running stub and the plumbing to talk to it from the event loop."""

    def __init__(self, label: str, on_message: Callable[[dict[str, Any]], None]) -> None:
        self.label = label  # "model 'm' instance 'm_0'"
        self.on_message = on_message
        self.proc: asyncio.subprocess.Process | None = None
        self.sock: socket.socket | None = None
        self.inputs: Allocator | None = None
        self.outputs: Arena | None = None
        self._decoder = Decoder()
        self._pending: asyncio.Future[dict[str, Any]] | None = None
        self._waiters: dict[int, Waiter] = {}  # execute id -> who gets its reply
        self._poller: LoopPoller | None = None
        self.dead: StubDied | None = None
        self.exited = asyncio.Event()

    async def start(self, python: str, shm_size: int, growth: int, prefix: str) -> None:
        """Spawn the stub with its socket and two fresh arenas."""
        parent, child = socket.socketpair()
        in_fd = create_fd(f"{prefix}in_", shm_size)
        out_fd = create_fd(f"{prefix}out_", shm_size)
        try:
            env = {**os.environ, "PYTHONPATH": stub_pythonpath()}
            self.proc = await asyncio.create_subprocess_exec(
                python, "-m", "tritoncore_python.stub", str(child.fileno()), str(in_fd),
                str(out_fd), str(growth), pass_fds=(child.fileno(), in_fd, out_fd), env=env,
                stdin=asyncio.subprocess.DEVNULL)
        except OSError as exc:
            os.close(in_fd)
            os.close(out_fd)
            parent.close()
            raise TritonError(ErrorCode.INVALID_ARG,
                              f"{self.label}: cannot start the stub with {python}: {exc}") from None
        finally:
            child.close()
        self.inputs = Allocator(Arena(in_fd), growth)
        self.outputs = Arena(out_fd)
        self.sock = parent
        parent.setblocking(False)
        asyncio.get_running_loop().add_reader(parent.fileno(), self._readable)
        self._poller = for_loop(asyncio.get_running_loop())
        asyncio.get_running_loop().create_task(self._watch())

    def send(self, message: Message) -> None:
        """Queue a message to the stub (never blocks the loop for long: messages are small)."""
        if self.dead is not None:
            raise self.dead
        assert self.sock is not None
        data = encode(message)
        sent = 0
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            pass
        except OSError:
            return  # the reader sees the EOF and reports the death
        if sent < len(data):
            asyncio.get_running_loop().create_task(
                asyncio.get_running_loop().sock_sendall(self.sock, data[sent:]))
        if self._poller is not None:
            self._poller.note()  # an answer (the stub's reply, its next BLS call) is due soon

    def submit(self, message: tuple[Any, ...], waiter: Waiter) -> None:
        """Send an EXECUTE (its id unique) and return; ``waiter`` gets the reply, or the
        error that ended the stub, on the event loop."""
        if self.dead is not None:
            raise self.dead
        self._waiters[message[1]] = waiter
        self.send(message)

    async def call(self, message: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Send an operation for the stub's main thread and wait for its reply."""
        if self.dead is not None:
            raise self.dead
        self._pending = asyncio.get_running_loop().create_future()
        self.send(message)
        try:
            return await asyncio.wait_for(self._pending, timeout)
        except asyncio.TimeoutError:
            raise TritonError(ErrorCode.UNAVAILABLE,
                              f"{self.label}: the stub did not answer '{message['op']}' within "
                              f"{timeout:.0f}s (stub-timeout-seconds)") from None
        finally:
            self._pending = None

    def _readable(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost()
            return
        for msg in self._decoder.feed(data):
            if isinstance(msg, tuple):  # EXECUTED
                if (waiter := self._waiters.pop(msg[1], None)) is not None:
                    waiter(msg)
                continue
            op = msg["op"]
            if op in REPLY_OPS and (waiter := self._waiters.pop(msg.get("id", 0), None)):
                waiter(msg)
            elif op in REPLY_OPS:
                if self._pending is not None and not self._pending.done():
                    self._pending.set_result(msg)
            else:
                self.on_message(msg)

    def _lost(self) -> None:
        """The socket closed: the process is ending; ``_watch`` reports how it ended."""
        loop = asyncio.get_running_loop()
        if self.sock is not None:
            loop.remove_reader(self.sock.fileno())
        loop.call_later(2.0, self._kill_if_running)

    def _kill_if_running(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()  # it closed its channel but lingers

    async def _watch(self) -> None:
        assert self.proc is not None
        code = await self.proc.wait()
        how = (f"was killed by {signal.Signals(-code).name}" if code < 0
               else f"exited with code {code}")
        self.dead = StubDied(ErrorCode.INTERNAL, f"{self.label}: the stub process {how}")
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(self.dead)
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter(self.dead)
        if self.sock is not None:
            try:
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            except (RuntimeError, ValueError):
                pass
        self.exited.set()

    async def stop(self, timeout: float, finalize: bool = True) -> None:
        """Ask for finalize (when alive), then make sure the process is gone; free arenas.

        ``finalize=False`` is for a stub that exits by itself (auto-complete).
        """
        if finalize and self.dead is None and self.proc is not None:
            try:
                reply = await self.call({"op": "finalize"}, timeout)
                if reply["op"] == "error":
                    log.error("%s: finalize failed: %s", self.label, reply["message"])
            except TritonError as exc:
                log.warning("%s", exc.message)
        if self.proc is not None and self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.exited.wait(), timeout)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.exited.wait()
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            try:
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            except (RuntimeError, ValueError):
                pass
            self.sock.close()
            self.sock = None
        for arena in (self.inputs.arena if self.inputs else None, self.outputs):
            if arena is not None and arena.map is not None:
                arena.close()


def python_for(env_path: str) -> str:
    """The interpreter of an EXECUTION_ENV_PATH (a virtualenv or unpacked environment)."""
    if not env_path:
        return sys.executable
    for name in ("bin/python3", "bin/python"):
        candidate = Path(env_path) / name
        if candidate.exists():
            return str(candidate)
    raise TritonError(ErrorCode.INVALID_ARG,
                      f"EXECUTION_ENV_PATH '{env_path}' holds no bin/python3: give a virtualenv "
                      "or an unpacked environment directory")
