"""Frontend worker processes, the server's side (``--http-workers N``, a tritoncore extension;
the pool and the link are protocol-neutral, the HTTP parts live in ``frontends/http``).

With N > 0 the server process no longer accepts a frontend's connections itself: N worker
processes share its listening socket, do the clients' socket work and the protocol's framing,
and relay what the clients ask over a socket pair each (:mod:`tritoncore.frontends.relay` is
their side). Here the relayed requests run through the frontend's usual handlers. The server
process then spends its one core on decoding, scheduling and encoding, not on the clients'
sockets. A worker that dies is replaced; its clients' requests in flight are cancelled.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tritoncore
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.frontend import cannot_listen
from tritoncore.frontends.link import HELLO, STOP, LinkEnd

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0
RESTART_DELAY_S = 1.0


class WorkerLink(LinkEnd):
    """The server's end of one worker's socket; subclasses handle one protocol's messages."""

    def __init__(self, loop: asyncio.AbstractEventLoop, proc: asyncio.subprocess.Process,
                 on_lost: Callable[[WorkerLink], None]) -> None:
        super().__init__(loop)
        self.proc = proc
        self.hello: asyncio.Future[int] = loop.create_future()
        self._on_lost = on_lost

    @abc.abstractmethod
    def received(self, message: tuple[Any, ...]) -> None:
        """A message from the worker (other than HELLO)."""

    @abc.abstractmethod
    def abandon_all(self) -> None:
        """The worker is gone: cancel whatever its clients had in flight."""

    def on_message(self, message: tuple[Any, ...]) -> None:
        if message[0] != HELLO:
            self.received(message)
        elif not self.hello.done():
            self.hello.set_result(message[1])

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.abandon_all()
        if not self.hello.done():
            self.hello.set_exception(ConnectionError("the worker closed its link"))
        self._on_lost(self)


LinkFactory = Callable[[asyncio.subprocess.Process, Callable[[WorkerLink], None]], WorkerLink]


class WorkerPool:
    """Runs ``count`` workers (``python -m module LISTEN_FD LINK_FD *args``) on ``sock``,
    replaces any that dies, stops them all."""

    def __init__(self, what: str, module: str, args: list[str], sock: socket.socket,
                 count: int, link: LinkFactory) -> None:
        self.what = what  # "HTTP", for messages
        self.module = module
        self.args = args
        self.sock = sock
        self.count = count
        self.make_link = link
        self.links: set[WorkerLink] = set()
        self._replacing: set[asyncio.Task[None]] = set()  # held: the loop keeps weak refs
        self._stopping = False

    async def start(self) -> None:
        """Start the workers; a worker that does not come up fails start-up."""
        links = [await self._spawn() for _ in range(self.count)]
        for link in links:
            try:
                await asyncio.wait_for(asyncio.shield(link.hello), START_TIMEOUT_S)
            except (asyncio.TimeoutError, ConnectionError) as exc:
                await self.stop(0.0)
                if link.proc.returncode is None:  # hung, or gone but not yet reaped
                    _kill(link.proc)
                code = await link.proc.wait()
                raise TritonError(ErrorCode.INTERNAL, f"{self.what} worker process "
                                  f"{link.proc.pid} did not start (exit code {code}); its "
                                  "error is in the server's log") from exc
        log.info("%s served by %d worker processes (pids %s)", self.what, self.count,
                 ", ".join(str(link.proc.pid) for link in links))

    async def _spawn(self) -> WorkerLink:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        root = str(Path(tritoncore.__file__).resolve().parents[1])  # tritoncore importable
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", self.module, str(self.sock.fileno()),
                str(theirs.fileno()), *self.args,
                pass_fds=(self.sock.fileno(), theirs.fileno()), env=env)
        finally:
            theirs.close()
        _, link = await asyncio.get_running_loop().create_unix_connection(
            lambda: self.make_link(proc, self._lost), sock=ours)
        self.links.add(link)
        return link

    def _lost(self, link: WorkerLink) -> None:
        self.links.discard(link)
        if not self._stopping:
            task = link.loop.create_task(self._replace(link.proc))
            self._replacing.add(task)
            task.add_done_callback(self._replacing.discard)

    async def _replace(self, proc: asyncio.subprocess.Process) -> None:
        """A worker closed its link unasked: make sure it is gone, start another."""
        try:
            code = await asyncio.wait_for(proc.wait(), RESTART_DELAY_S)
        except asyncio.TimeoutError:
            _kill(proc)
            code = await proc.wait()
        log.error("%s worker process %d exited (code %s); its clients' requests in flight "
                  "were cancelled; starting another", self.what, proc.pid, code)
        await asyncio.sleep(RESTART_DELAY_S)  # a worker that dies at once does not spin
        if not self._stopping:
            await self._spawn()

    async def stop(self, timeout: float) -> None:
        """Stop accepting; wait up to ``timeout`` s for workers to answer their clients."""
        self._stopping = True
        for task in list(self._replacing):  # a replacement must not start now
            task.cancel()
        procs = [link.proc for link in self.links]
        for link in self.links:
            link.send((STOP,))
        self.sock.close()
        if procs:
            await asyncio.wait([asyncio.ensure_future(p.wait()) for p in procs],
                               timeout=timeout)
            for p in procs:
                if p.returncode is None:
                    _kill(p)
                    await p.wait()


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
        proc.kill()


def listening_socket(what: str, host: str, port: int, flag: str) -> socket.socket:
    """A bound, listening TCP socket for ``host:port`` (IPv4 or IPv6, as the name resolves);
    ``what`` and ``flag`` (``HTTP``, ``--http-port``) word the error when it cannot be had."""
    try:
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                    flags=socket.AI_PASSIVE)[0][0]
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise cannot_listen(what, f"{host}:{port}", flag, exc) from None
