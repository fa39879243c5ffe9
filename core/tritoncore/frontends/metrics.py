"""The metrics frontend: Prometheus text on ``/metrics`` (port 8002) with Triton's names.

Per model version (labels ``model``, ``version``): request success / failure (by ``reason``),
inference and execution counts, cumulative durations in microseconds, pending requests and
the load time. Server-wide CPU utilization and memory come from ``/proc``, refreshed every
``--metrics-interval-ms`` (as Triton's "per interval" metrics), and so do the per-GPU metrics
from NVML (``gpu_metrics.py``, ``--allow-gpu-metrics``); per-request counters are read
live at each scrape. A tritoncore extension counts the copies between host and device memory
(``tritoncore_memory_copy_count`` / ``_bytes`` by ``direction``). A tiny asyncio HTTP/1.1 server is all a scraper needs, so there is no
dependency here.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

from tritoncore.errors import ErrorCode, TritonError
from tritoncore.frontend import Frontend
from tritoncore.frontends.gpu_metrics import GpuSampler
from tritoncore.hookspecs import hookimpl
from tritoncore.memory import copies, pinned_pool
from tritoncore.scheduling.stats import FAILURE_REASONS

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; charset=utf-8; version=0.0.4"
DEFAULT_INTERVAL_MS = 2000.0
_MAX_HEADER = 16384

# (name, type, help, what it reads from a model version); HELP texts are Triton's.
_Reader = Callable[[Any], float]
_DURATION = "Cumulative {} duration in microseconds ({} cached requests)"
MODEL_FAMILIES: tuple[tuple[str, str, str, _Reader], ...] = (
    ("nv_inference_request_success", "counter",
     "Number of successful inference requests, all batch sizes",
     lambda v: v.stats.requests["success"].count),
    ("nv_inference_request_failure", "counter",
     "Number of failed inference requests, all batch sizes", lambda v: 0),  # by reason below
    ("nv_inference_count", "counter",
     "Number of inferences performed (does not include cached requests)",
     lambda v: v.stats.inference_count),
    ("nv_inference_exec_count", "counter",
     "Number of model executions performed (does not include cached requests)",
     lambda v: v.stats.execution_count),
    ("nv_inference_request_duration_us", "counter",
     _DURATION.format("inference request", "includes"),
     lambda v: v.stats.requests["success"].ns // 1000),
    ("nv_inference_queue_duration_us", "counter",
     _DURATION.format("inference queuing", "includes"),
     lambda v: v.stats.requests["queue"].ns // 1000),
    ("nv_inference_compute_input_duration_us", "counter",
     _DURATION.format("compute input", "does not include"),
     lambda v: v.stats.requests["compute_input"].ns // 1000),
    ("nv_inference_compute_infer_duration_us", "counter",
     _DURATION.format("compute inference", "does not include"),
     lambda v: v.stats.requests["compute_infer"].ns // 1000),
    ("nv_inference_compute_output_duration_us", "counter",
     _DURATION.format("inference compute output", "does not include"),
     lambda v: v.stats.requests["compute_output"].ns // 1000),
    ("nv_inference_pending_request_count", "gauge",
     "Instantaneous number of pending requests awaiting execution per-model.",
     lambda v: _pending(v)),
    ("nv_model_load_duration_secs", "gauge", "Model load time in seconds",
     lambda v: v.load_seconds),
)
CPU_FAMILIES = (
    ("nv_cpu_utilization", "CPU utilization rate [0.0 - 1.0]"),
    ("nv_cpu_memory_total_bytes", "CPU total memory (RAM), in bytes"),
    ("nv_cpu_memory_used_bytes", "CPU used memory (RAM), in bytes"),
)


def _pending(loaded: Any) -> int:
    """Requests queued for a model version and not yet executing."""
    pending = getattr(loaded.scheduler, "pending", None)
    if callable(pending):
        return int(pending())
    queue = loaded.scheduler.queue
    return queue.qsize() if hasattr(queue, "qsize") else len(queue)


def _number(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    return str(int(value))


class CpuSampler:
    """CPU utilization between two samples of ``/proc/stat``, memory from ``/proc/meminfo``."""

    def __init__(self) -> None:
        self._last: tuple[int, int] | None = None
        self.values = {"nv_cpu_utilization": 0.0, "nv_cpu_memory_total_bytes": 0,
                       "nv_cpu_memory_used_bytes": 0}

    def sample(self) -> None:
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
            with open("/proc/meminfo") as f:
                mem = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
        except (OSError, ValueError, IndexError):
            return  # not Linux: CPU metrics stay 0
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        total = sum(fields[:8])
        if self._last is not None and total > self._last[1]:
            busy = 1.0 - (idle - self._last[0]) / (total - self._last[1])
            self.values["nv_cpu_utilization"] = min(max(busy, 0.0), 1.0)
        self._last = (idle, total)
        total_mem = mem.get("MemTotal", 0)
        self.values["nv_cpu_memory_total_bytes"] = total_mem
        self.values["nv_cpu_memory_used_bytes"] = total_mem - mem.get("MemAvailable", total_mem)


COPY_FAMILIES = (
    ("tritoncore_memory_copy_count", ("Copies of tensor data between host and GPU memory "
     "made by the server and its in-process backends (tritoncore extension)")),
    ("tritoncore_memory_copy_bytes", ("Bytes copied between host and GPU memory "
     "(tritoncore extension)")),
)


PINNED_FAMILIES = (
    ("nv_pinned_memory_pool_total_bytes", "Pinned memory pool total memory size, in bytes",
     lambda p: p.total_bytes),
    ("nv_pinned_memory_pool_used_bytes", "Pinned memory pool used memory size, in bytes",
     lambda p: p.used_bytes),
)


def _pinned_lines() -> list[str]:
    pool = pinned_pool.pool()
    lines: list[str] = []
    for name, help_text, read in PINNED_FAMILIES:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {read(pool)}"]
    return lines


def _copy_lines() -> list[str]:
    snap = copies.snapshot()
    lines: list[str] = []
    for which, (name, help_text) in enumerate(COPY_FAMILIES):
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} counter")
        for direction in copies.DIRECTIONS:
            lines.append(f'{name}{{direction="{direction}"}} {snap[direction][which]}')
    return lines


def render(server: Any, cpu: CpuSampler | None, gpu: GpuSampler | None = None) -> str:
    """The whole exposition text."""
    versions = [(name, v, loaded) for name, entry in sorted(server.repository.models.items())
                for v, loaded in sorted(entry.loaded.items())]
    lines: list[str] = []
    for name, kind, help_text, read in MODEL_FAMILIES:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for model, version, loaded in versions:
            if name == "nv_inference_request_failure":
                failures = dict(loaded.stats.failures)
                for reason in FAILURE_REASONS:
                    lines.append(f'{name}{{model="{model}",reason="{reason}",'
                                 f'version="{version}"}} {failures.get(reason, 0)}')
                continue
            lines.append(f'{name}{{model="{model}",version="{version}"}} '
                         f"{_number(read(loaded))}")
    lines += _pinned_lines()
    if cpu is not None:
        for name, help_text in CPU_FAMILIES:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {_number(cpu.values[name])}")
    if gpu is not None:
        lines += gpu.lines()
    lines += _copy_lines()
    extra = [t for t in server.plugins.hook.tritoncore_metrics_text(server=server) if t]
    return "\n".join(lines + extra) + "\n"


class MetricsFrontend(Frontend):
    """``GET /metrics`` on ``metrics_address:metrics_port``."""

    name = "metrics"

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        extra = server.options.extra
        self.interval_s = float(extra.get("metrics_interval_ms") or DEFAULT_INTERVAL_MS) / 1000
        self.cpu = CpuSampler() if extra.get("allow_cpu_metrics", True) else None
        self.gpu: GpuSampler | None = None
        self._server: asyncio.AbstractServer | None = None
        self._poller: asyncio.Task[None] | None = None
        self.port = 0

    def enabled(self) -> bool:
        return bool(self.server.options.allow_metrics)

    async def start(self) -> None:
        opts = self.server.options
        try:
            self._server = await asyncio.start_server(self._serve, opts.metrics_address,
                                                      opts.metrics_port)
        except OSError as exc:
            raise TritonError(
                ErrorCode.UNAVAILABLE,
                f"metrics frontend cannot listen on {opts.metrics_address}:{opts.metrics_port} "
                f"({exc.strerror}); choose another --metrics-port or --allow-metrics=false",
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        if self.server.options.extra.get("allow_gpu_metrics", True):
            self.gpu = GpuSampler.create()
        if self.cpu is not None:
            self.cpu.sample()
        if self.cpu is not None or self.gpu is not None:
            self._poller = asyncio.ensure_future(self._poll())
        log.info("metrics frontend listening on %s:%d", opts.metrics_address, self.port)

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.gpu is not None:
            self.gpu.close()
            self.gpu = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if self.cpu is not None:
                self.cpu.sample()
            if self.gpu is not None:
                self.gpu.sample()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        ConnectionError):
                    return
                if len(head) > _MAX_HEADER:
                    return
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, path, version = (request_line.split(" ") + ["", "", ""])[:3]
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (h.partition(":") for h in header_lines if h)}
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)
                close = (headers.get("connection", "").lower() == "close"
                         or version == "HTTP/1.0")
                for chunk in self._respond(method, path.split("?")[0], close):
                    writer.write(chunk)
                await writer.drain()
                if close:
                    return
        finally:
            writer.close()

    def _respond(self, method: str, path: str, close: bool) -> Iterator[bytes]:
        if path != "/metrics":
            status, body, ctype = "404 Not Found", b"not found; metrics are at /metrics\n", \
                "text/plain"
        elif method not in ("GET", "HEAD"):
            status, body, ctype = "405 Method Not Allowed", b"use GET\n", "text/plain"
        else:
            try:
                text = render(self.server, self.cpu, self.gpu)
                status, body, ctype = "200 OK", text.encode(), CONTENT_TYPE
            except Exception as exc:
                log.exception("rendering metrics failed")
                status, body, ctype = "500 Internal Server Error", \
                    f"rendering metrics failed: {exc}\n".encode(), "text/plain"
        yield (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
               f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n").encode()
        if method != "HEAD":
            yield body


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


@hookimpl
def tritoncore_register_frontends(register: Callable[[type[Frontend]], None]) -> None:
    register(MetricsFrontend)


@hookimpl
def tritoncore_add_cli_options(parser: argparse.ArgumentParser) -> None:
    from tritoncore.cli import boolean

    parser.add_argument("--metrics-interval-ms", type=_positive_float,
                        default=DEFAULT_INTERVAL_MS, metavar="MS",
                        help="how often the per-interval metrics (CPU) are refreshed")
    parser.add_argument("--allow-cpu-metrics", type=boolean, default=True, metavar="BOOL")
    parser.add_argument("--allow-gpu-metrics", type=boolean, default=True, metavar="BOOL",
                        help="per-GPU metrics from NVML (needs pynvml); absent without a GPU")
