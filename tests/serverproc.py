"""A real ``tritoncore serve`` process on free ports, for tests that talk to it over a network."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

STARTED = " started (ready: "


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free a moment ago (held together while chosen)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


class ServerProcess:
    """``python -m tritoncore serve`` with its log in a file; ``stop()`` sends SIGTERM."""

    def __init__(self, repo: Path, *args: str, log_dir: Path, env: dict[str, str] | None = None):
        self.repo, self.extra, self.log_dir = repo, args, log_dir
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self._choose_ports()

    def _choose_ports(self) -> None:
        self.http_port, self.grpc_port, self.metrics_port = free_ports(3)
        self.args = [sys.executable, "-m", "tritoncore", "serve",
                     "--model-repository", str(self.repo),
                     "--http-address", "127.0.0.1", "--http-port", str(self.http_port),
                     "--grpc-address", "127.0.0.1", "--grpc-port", str(self.grpc_port),
                     "--metrics-address", "127.0.0.1", "--metrics-port", str(self.metrics_port),
                     *self.extra]
        self.log_path = self.log_dir / f"server-{self.http_port}.log"

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 60.0, attempts: int = 3) -> ServerProcess:
        """Start and wait for the 'started' log line; raises with the log if it exits first.
        A port taken between choosing it and listening on it (another test's client or
        server) means new ports and another try."""
        for _ in range(attempts - 1):
            try:
                return self._start(timeout)
            except RuntimeError:
                if "Address already in use" not in self.log():
                    raise
                self._choose_ports()
        return self._start(timeout)

    def _start(self, timeout: float) -> ServerProcess:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                         env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if STARTED in self.log():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code (kills after ``timeout``)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> ServerProcess:  # noqa: PYI034 - start() returns self
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill() if exc[0] else self.stop()
