"""The PyTorch backend in-process: calling the TorchScript module directly vs serving it.

    .venv/bin/python benchmarks/pytorch_backend.py --queue-delay-us 0   # CPU, small MLP
    python3 benchmarks/pytorch_backend.py --device cuda --model resnet50 --dtype fp16 \\
        --queue-delay-us 0 --max-batch 128 --batch-sizes 1 64 128 \\
        --concurrency 1 128 256 512 --phases                             # GPU machine

Direct: ``module(x)`` in a loop, host numpy in and host numpy out (the upload from host memory
that served requests need is included), at each batch size; the best is "the practical
limit". On a GPU a reference row runs the module with its input already on the device (an
upper bound, not the baseline). Served: ``Server.infer`` through the real scheduler (dynamic
batching, ``--instances`` instances) from C concurrent clients sending batch-1 requests.
Ratios are served / best direct, measured in the same run. No HTTP/gRPC: this isolates the
backend and the core's per-request path. ``--phases`` times the backend's steps per batch.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
for extra in ("core", "plugins/pytorch"):  # runs from a checkout without installing too
    sys.path.insert(0, str(ROOT / extra))

from tritoncore.options import ServerOptions
from tritoncore.plugins import PluginManager
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.server import Server
from tritoncore.tensor import Tensor


def build(model: str) -> tuple[torch.nn.Module, tuple[int, ...], int]:
    """(module, one sample's shape, output width)."""
    torch.manual_seed(0)
    if model == "mlp":
        net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(),
                                  torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                  torch.nn.Linear(256, 10))
        return net.eval(), (64,), 10
    if model == "example-resnet":  # examples/model_repository/my_resnet (scripts/setup.sh)
        path = ROOT / "examples" / "model_repository" / "my_resnet" / "1" / "model.pt"
        return torch.jit.load(str(path)).eval(), (3, 224, 224), 1000
    if model == "resnet50":
        import torchvision  # there on the GPU machine; random weights

        return torchvision.models.resnet50().eval(), (3, 224, 224), 1000
    raise SystemExit(f"unknown model {model}")


def direct(module, shape, batch: int, device: str, dtype, seconds: float,
           on_device: bool = False) -> float:
    """Inferences per second calling the module in a loop (host in, host out); with
    ``on_device`` the input stays on the device (compute and output copy only: a reference
    for where the time goes, never the baseline, since served requests arrive in host memory)."""
    x = np.random.default_rng(0).standard_normal((batch, *shape)).astype(np.float32)
    x = x.astype(np.float16) if dtype == torch.float16 else x
    resident = torch.from_numpy(x).to(device)

    def once() -> None:
        module(resident if on_device else torch.from_numpy(x).to(device)).cpu().numpy()

    with torch.inference_mode():
        for _ in range(3):
            once()
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            once()
            count += 1
        return count * batch / (time.perf_counter() - start)


class Phases:
    """``--phases``: wall and worker-thread CPU ms per batch in the backend's steps (a
    diagnostic; wall minus CPU is time spent waiting: for the GIL, or for the GPU in "rest",
    which holds the stream synchronization)."""

    STEPS = ("_gather", "forward", "_to_host", "_scatter", "_run")

    def __init__(self, server: Server) -> None:
        from tritoncore_pytorch.instance import TorchInstance

        self.sums = {step: [0.0, 0.0] for step in self.STEPS}
        for step in ("_gather", "_to_host", "_scatter", "_run"):
            setattr(TorchInstance, step, self._timed(step, getattr(TorchInstance, step)))
        for runner in server.model("m").runners:
            runner.instance.module = self._timed("forward", runner.instance.module)

    def _timed(self, step: str, fn):
        sums = self.sums[step]

        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                sums[0] += time.perf_counter() - wall
                sums[1] += time.thread_time() - cpu
        return timed

    def report(self, before: dict[str, list[float]], batches: int) -> str:
        def ms(step: str, i: int) -> float:
            return (self.sums[step][i] - before[step][i]) * 1e3 / max(batches, 1)

        rest = [ms("_run", i) - sum(ms(s, i) for s in self.STEPS[:-1]) for i in (0, 1)]
        parts = [f"{s.strip('_')} {ms(s, 0):.1f} ({ms(s, 1):.1f})" for s in self.STEPS[:-1]]
        return f"wall (CPU) ms/batch: {', '.join(parts)}, rest {rest[0]:.1f} ({rest[1]:.1f})"

    def snapshot(self) -> dict[str, list[float]]:
        return {k: list(v) for k, v in self.sums.items()}


async def served(server: Server, shape, dtype, concurrency: int,
                 seconds: float) -> tuple[float, float]:
    """(infer/s, the event loop thread's CPU share) from C clients sending batch-1 requests."""
    x = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
    x = x.astype(np.float16) if dtype == torch.float16 else x
    tensor = Tensor.from_numpy("INPUT__0", x)
    done = 0

    async def client(deadline: float) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await server.infer(InferenceRequest("m", {"INPUT__0": tensor}))
            done += 1

    await asyncio.gather(*(client(time.perf_counter() + 0.5) for _ in range(concurrency)))
    done = 0
    start, cpu = time.perf_counter(), time.thread_time()
    await asyncio.gather(*(client(start + seconds) for _ in range(concurrency)))
    wall = time.perf_counter() - start
    return done / wall, (time.thread_time() - cpu) / wall


async def main(args: argparse.Namespace) -> None:
    dtype = torch.float16 if args.dtype == "fp16" else torch.float32
    net, shape, width = build(args.model)
    net = net.to(args.device, dtype)
    scripted = torch.jit.trace(net, torch.zeros(1, *shape, device=args.device, dtype=dtype))
    tname = "TYPE_FP16" if dtype == torch.float16 else "TYPE_FP32"
    kind = "KIND_GPU" if args.device == "cuda" else "KIND_CPU"
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        (repo / "m" / "1").mkdir(parents=True)
        scripted.save(str(repo / "m" / "1" / "model.pt"))
        batching = ("" if args.queue_delay_us < 0 else
                    f"dynamic_batching {{ max_queue_delay_microseconds: {args.queue_delay_us} }}")
        (repo / "m" / "config.pbtxt").write_text(textwrap.dedent(f"""
            platform: "pytorch_libtorch"
            max_batch_size: {args.max_batch}
            input [ {{ name: "INPUT__0", data_type: {tname}, dims: {list(shape)} }} ]
            output [ {{ name: "OUTPUT__0", data_type: {tname}, dims: [ {width} ] }} ]
            instance_group [ {{ count: {args.instances}, kind: {kind} }} ]
            {batching}
        """))
        rows: list[tuple[str, float, str]] = []
        best = 0.0
        for batch in args.batch_sizes:
            rate = direct(scripted, shape, batch, args.device, dtype, args.seconds)
            best = max(best, rate)
            rows.append((f"direct, batch {batch}", rate, f"{batch / rate * 1e3:.2f} ms/batch"))
        if args.device == "cuda":
            batch = max(args.batch_sizes)
            rate = direct(scripted, shape, batch, args.device, dtype, args.seconds, True)
            rows.append((f"(reference) direct, batch {batch}, input already on the GPU", rate,
                         f"{batch / rate * 1e3:.2f} ms/batch, not a baseline"))
        plugins = PluginManager()
        from tritoncore_pytorch import plugin

        if "pytorch" not in plugins.backends:
            plugins.register(plugin, name="pytorch")
        server = Server(ServerOptions(model_repositories=[repo], allow_http=False,
                                      allow_grpc=False, allow_metrics=False,
                                      disable_auto_complete_config=True), plugins,
                        gpus=torch.cuda.device_count())
        await server.start()
        try:
            phases = Phases(server) if args.phases else None
            for c in args.concurrency:
                before = server.statistics("m")["model_stats"][0]
                timed = phases.snapshot() if phases else {}
                rate, loop_cpu = await served(server, shape, dtype, c, args.seconds)
                after = server.statistics("m")["model_stats"][0]
                executions = max(after["execution_count"] - before["execution_count"], 1)
                mean = (after["inference_count"] - before["inference_count"]) / executions
                execute_ns = sum(b["compute_infer"]["ns"] for b in after["batch_stats"]) - sum(
                    b["compute_infer"]["ns"] for b in before["batch_stats"])
                execute_ms = execute_ns / executions / 1e6
                notes = (f"mean batch {mean:.1f}, execute {execute_ms:.2f} ms/batch, "
                         f"event loop thread CPU {loop_cpu:.0%}")
                if phases:
                    notes += "; " + phases.report(timed, executions)
                rows.append((f"served, concurrency {c}", rate, notes))
        finally:
            await server.stop()
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU x{torch.get_num_threads()} threads"
    print(f"\n{args.model} {args.dtype} on {device}, torch {torch.__version__}; "
          f"{args.instances} instances, max_batch_size {args.max_batch}\n")
    print("| path | infer/s | × best direct | notes |\n|---|---|---|---|")
    for name, rate, notes in rows:
        print(f"| {name} | {rate:,.0f} | {rate / best:.2f}× | {notes} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--model", default="mlp", choices=["mlp", "example-resnet", "resnet50"])
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "fp16"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--queue-delay-us", type=int, default=100,
                        help="dynamic batching's max queue delay; -1: no dynamic batching")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--phases", action="store_true",
                        help="time the backend's steps per batch (a diagnostic)")
    asyncio.run(main(parser.parse_args()))
