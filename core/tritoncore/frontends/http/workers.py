"""HTTP worker processes (``--http-workers N``, a tritoncore extension).

With N > 0 the server process no longer accepts HTTP connections itself: N worker processes
(:mod:`tritoncore.frontends.http.worker`) share its listening socket, do the connections' socket
work and HTTP parsing, and relay whole requests over a socket pair each. Here every relayed
request runs through the same :class:`HttpApp` as a local one, and its answer goes back in one
frame. The server process then spends its one core on decoding, scheduling and encoding, not on
the clients' sockets. A worker that dies is restarted; its clients' in-flight requests are
cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tritoncore
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.frontends.http.connection import Exchange
from tritoncore.frontends.http.link import ANSWER, CANCEL, HELLO, REQUEST, STOP, FrameReader, frame

if TYPE_CHECKING:
    from tritoncore.frontends.http.app import HttpApp

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0
RESTART_DELAY_S = 1.0


class RelayedExchange(Exchange):
    """A request a worker relayed; ``rid`` is the worker's name for it."""

    __slots__ = ("rid",)
    rid: int


class WorkerLink(asyncio.Protocol):
    """The server's end of one worker's socket: relayed requests in, their answers out."""

    def __init__(self, app: HttpApp, proc: asyncio.subprocess.Process,
                 on_lost: Any) -> None:
        self.app = app
        self.loop = app.loop
        self.proc = proc
        self.hello: asyncio.Future[int] = app.loop.create_future()
        self._on_lost = on_lost
        self._inflight: dict[int, RelayedExchange] = {}
        self._reader = FrameReader()
        self._out: list[bytes] = []
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        for message in self._reader.feed(data):
            kind = message[0]
            if kind == REQUEST:
                _, rid, method, url, headers, body, keep_alive = message
                ex = RelayedExchange(self, method, url, headers, body, keep_alive)
                ex.rid = rid
                self._inflight[rid] = ex
                self.app.dispatch(ex)
            elif kind == CANCEL:
                left = self._inflight.pop(message[1], None)
                if left is not None:
                    self.app.abandon(left)
            elif kind == HELLO and not self.hello.done():
                self.hello.set_result(message[1])

    def answered(self, ex: Exchange) -> None:
        """Owner of relayed exchanges: send the answer unless the client has left."""
        assert isinstance(ex, RelayedExchange)
        rid = ex.rid
        if self._inflight.pop(rid, None) is None:
            return
        parts = ex.parts or [b""]
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.send((ANSWER, rid, data, ex.keep_alive))

    def send(self, message: tuple[Any, ...]) -> None:
        """Queue a message; everything queued in one loop pass goes out in one write."""
        if not self._out:
            self.loop.call_soon(self._write)
        self._out.append(frame(message))

    def _write(self) -> None:
        out, self._out = self._out, []
        if self._transport is not None:
            self._transport.writelines(out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        for ex in self._inflight.values():
            self.app.abandon(ex)
        self._inflight.clear()
        if not self.hello.done():
            self.hello.set_exception(ConnectionError("the worker closed its link"))
        self._on_lost(self)


class WorkerPool:
    """Starts ``count`` workers on ``sock``, restarts any that dies, stops them all."""

    def __init__(self, app: HttpApp, sock: socket.socket, count: int) -> None:
        self.app = app
        self.sock = sock
        self.count = count
        self.links: set[WorkerLink] = set()
        self._stopping = False

    async def start(self) -> None:
        """Start the workers; raises if one does not come up."""
        links = [await self._spawn() for _ in range(self.count)]
        for link in links:
            try:
                await asyncio.wait_for(asyncio.shield(link.hello), START_TIMEOUT_S)
            except (asyncio.TimeoutError, ConnectionError) as exc:
                await self.stop(0.0)
                raise TritonError(ErrorCode.INTERNAL, f"HTTP worker process {link.proc.pid} "
                                  f"did not start (exit code {link.proc.returncode}); its "
                                  "error is in the server's log") from exc
        log.info("HTTP served by %d worker processes (pids %s)", self.count,
                 ", ".join(str(link.proc.pid) for link in links))

    async def _spawn(self) -> WorkerLink:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        root = str(Path(tritoncore.__file__).resolve().parents[1])  # tritoncore importable
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tritoncore.frontends.http.worker",
                str(self.sock.fileno()), str(theirs.fileno()), str(self.app.max_input_size),
                pass_fds=(self.sock.fileno(), theirs.fileno()), env=env)
        finally:
            theirs.close()
        _, link = await self.app.loop.create_unix_connection(
            lambda: WorkerLink(self.app, proc, self._lost), sock=ours)
        self.links.add(link)
        return link

    def _lost(self, link: WorkerLink) -> None:
        self.links.discard(link)
        if not self._stopping:
            self.app.loop.create_task(self._replace(link.proc))

    async def _replace(self, proc: asyncio.subprocess.Process) -> None:
        """A worker closed its link without being asked: make sure it is gone, start another."""
        try:
            code = await asyncio.wait_for(proc.wait(), RESTART_DELAY_S)
        except asyncio.TimeoutError:
            proc.kill()
            code = await proc.wait()
        log.error("HTTP worker process %d exited (code %s); its clients' requests in flight "
                  "were cancelled; starting another", proc.pid, code)
        await asyncio.sleep(RESTART_DELAY_S)  # a worker that dies at once does not spin
        if not self._stopping:
            await self._spawn()

    async def stop(self, timeout: float) -> None:
        """Stop accepting; wait up to ``timeout`` s for workers to answer their clients."""
        self._stopping = True
        procs = [link.proc for link in self.links]
        for link in self.links:
            link.send((STOP,))
        self.sock.close()
        if procs:
            await asyncio.wait([asyncio.ensure_future(p.wait()) for p in procs],
                               timeout=timeout)
            for p in procs:
                if p.returncode is None:
                    p.kill()
                    await p.wait()
