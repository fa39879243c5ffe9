"""``tritoncore serve`` (tritonserver's flag names and defaults) and ``tritoncore backends``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from tritoncore import __version__, heap
from tritoncore.errors import TritonError
from tritoncore.options import CONTROL_MODES, ServerOptions, parse_backend_config
from tritoncore.plugins import PluginManager

log = logging.getLogger("tritoncore")

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def boolean(text: str) -> bool:
    """tritonserver's boolean flag values."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 0..65535")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def cuda_pool(text: str) -> tuple[int, int]:
    """``<device>:<bytes>`` (tritonserver's --cuda-memory-pool-byte-size form)."""
    device, sep, size = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return non_negative_int(device), non_negative_int(size)
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(
            f"expected <device>:<bytes> such as 0:67108864, got {text!r}") from None


def add_serve_options(p: argparse.ArgumentParser) -> None:
    """The flags of ``serve``; names and defaults follow tritonserver."""
    d = ServerOptions()
    a = p.add_argument
    a("--model-repository", "--model-store", dest="model_repositories", action="append",
      type=Path, required=True, metavar="PATH", help="model repository (repeatable)")
    a("--model-control-mode", choices=CONTROL_MODES, default=d.model_control_mode)
    a("--load-model", dest="load_models", action="append", default=[], metavar="NAME",
      help="with explicit control mode: a model to load at start-up ('*' for all)")
    a("--repository-poll-secs", type=non_negative_float, default=d.repository_poll_secs)
    a("--exit-on-error", type=boolean, default=d.exit_on_error, metavar="BOOL")
    a("--strict-readiness", type=boolean, default=d.strict_readiness, metavar="BOOL")
    a("--model-load-thread-count", type=positive_int, default=d.model_load_thread_count)
    a("--disable-auto-complete-config", action="store_true")
    a("--model-config-name", default="", metavar="NAME",
      help="use configs/NAME.pbtxt where a model has one")
    a("--server-config", type=Path, default=None, metavar="PATH",
      help="tritoncore extension: a server-level config.pbtxt (model_config_list, "
           "backend_config); default: config.pbtxt at a repository's root")
    a("--backend-config", action="append", default=[], metavar="BACKEND,KEY=VALUE")
    a("--allow-client-shm", type=boolean, default=d.allow_client_shm, metavar="BOOL")
    # GPU memory (Triton's names): the pinned pool stages host inputs of GPU instances; the
    # CUDA pool size is accepted for command-line compatibility only (device memory comes
    # from the frameworks' caching allocators; see README).
    a("--pinned-memory-pool-byte-size", type=non_negative_int, default=268435456,
      metavar="BYTES", help="page-locked host memory for host-to-GPU staging (0: none)")
    a("--cuda-memory-pool-byte-size", action="append", default=[], type=cuda_pool,
      metavar="DEVICE:BYTES", help="cap on the device memory pool of the server's own GPU "
      "buffers (cupy's pool; frameworks keep their own allocators)")
    a("--min-supported-compute-capability", type=non_negative_float, default=6.0,
      metavar="X.Y", help="GPUs below it are not used")
    a("--exit-timeout-secs", type=non_negative_float, default=d.exit_timeout_secs)
    a("--log-verbose", type=int, default=d.log_verbose)
    for proto in ("http", "grpc", "metrics"):
        a(f"--allow-{proto}", type=boolean, default=getattr(d, f"allow_{proto}"), metavar="BOOL")
        a(f"--{proto}-address", default=getattr(d, f"{proto}_address"))
        a(f"--{proto}-port", type=port, default=getattr(d, f"{proto}_port"))
    a("--busy-poll-microseconds", type=non_negative_int, default=d.busy_poll_microseconds,
      metavar="US", help="tritoncore extension: after sending a request to a model process or "
      "a response to a client, the server polls this long for the answer instead of sleeping "
      "(0: never)")
    a("--http-restricted-api", action="append", default=[], metavar="APIS:KEY=VALUE")
    a("--http-max-input-size", type=positive_int, default=d.http_max_input_size, metavar="BYTES")


def options_from_args(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> ServerOptions:
    """Build ServerOptions; bad combinations become parser errors (exit code 2)."""
    fields = set(ServerOptions.__dataclass_fields__)
    values = {k: v for k, v in vars(ns).items() if k in fields and k != "backend_config"}
    extra = {k: v for k, v in vars(ns).items() if k not in fields and k not in ("command", "func")}
    try:
        values["backend_config"] = parse_backend_config(ns.backend_config)
    except TritonError as exc:
        parser.error(exc.message)
    for repo in ns.model_repositories:
        if not repo.is_dir():
            parser.error(f"--model-repository {repo}: not a directory")
    if ns.load_models and ns.model_control_mode != "explicit":
        parser.error("--load-model needs --model-control-mode=explicit")
    return ServerOptions(**values, extra=extra)


def build_parser(plugins: PluginManager) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tritoncore",
                                     description="A Triton-compatible inference server.")
    parser.add_argument("--version", action="version", version=f"tritoncore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve model repositories")
    add_serve_options(serve)
    plugins.hook.tritoncore_add_cli_options(parser=serve)
    sub.add_parser("backends", help="list the installed backends")
    return parser


def list_backends(plugins: PluginManager) -> int:
    """Print each discovered backend with its distribution and version."""
    rows = [("BACKEND", "DISTRIBUTION", "VERSION", "STATUS")]
    for name, info in sorted(plugins.discovered.items()):
        rows.append((name, info.distribution, info.version,
                     "enabled" if info.enabled else "disabled"))
    for name in sorted(set(plugins.backends) - set(plugins.discovered)):
        rows.append((name, "tritoncore", __version__, "built-in"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


async def serve(options: ServerOptions, plugins: PluginManager) -> int:
    """Run until SIGINT/SIGTERM; returns the process exit code."""
    from tritoncore.server import Server

    server = Server(options, plugins)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except TritonError as exc:
        log.error("%s", exc.message)
        return 1
    for row in server.repository_index():
        log.info("model %-24s version %-4s %-12s %s", row["name"], row.get("version", "-"),
                 row.get("state", "UNAVAILABLE"), row.get("reason", ""))
    heap.settle()
    log.info("tritoncore %s started (ready: %s)", __version__, server.is_ready())
    await stop.wait()
    log.info("shutting down")
    await server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    plugins = PluginManager()
    parser = build_parser(plugins)
    ns = parser.parse_args(argv)
    if ns.command == "backends":
        return list_backends(plugins)
    options = options_from_args(ns, parser)
    logging.basicConfig(level=logging.DEBUG if options.log_verbose else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s] %(message)s")
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        return asyncio.run(serve(options, plugins))
    return int(uvloop.run(serve(options, plugins)))


if __name__ == "__main__":
    sys.exit(main())
