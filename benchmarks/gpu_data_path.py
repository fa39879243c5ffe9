"""The GPU data path on a GPU machine: CUDA shared memory in and out of a KIND_GPU TorchScript
model, checked exactly, copies counted, 64 MiB FP32 timed three ways.

    PYTHONPATH=core:plugins/pytorch python3 benchmarks/gpu_data_path.py [--out DIR]
        [--mib 64] [--iters 20] [--quick]

Needs torch with CUDA, cupy, tritonclient[http] with cuda-python (for
``tritonclient.utils.cuda_shared_memory``), and the tritoncore-pytorch entry point installed
(a dist-info is enough). What it does:

1. builds ``gpu_model`` (KIND_GPU) and ``cpu_model`` (KIND_CPU), both ``y = 2x + 1`` in FP32;
2. starts ``python3 -m tritoncore serve --allow-client-shm=true``;
3. registers CUDA regions with ``tritonclient.utils.cuda_shared_memory`` and checks results
   exactly: GPU model in/out of CUDA shm over HTTP and gRPC (no device-to-host copy), CPU
   model with a CUDA-shm input (exactly one counted device-to-host copy), ``gpu_batched``
   (dynamic batching, KIND_GPU): 8 concurrent requests with inputs and outputs at their own
   offsets of CUDA regions make one batch, exact, with 0 / 0 / 8 D2H / H2D / D2D copies;
   outputs downloaded into a system shm region and an HTTP body exact, and the pinned pool
   back to 0 bytes used; bad offsets and device ids refused;
4. parses the NVML GPU metrics with perf_analyzer's regex;
5. times ``--mib`` MiB FP32 end to end (client call to result in place) with CUDA shm, system
   shm and a binary HTTP body, with the server's compute input/infer/output split, and the
   latency of a health check while large CUDA-shm requests to the CPU model run (copies on
   the event loop would show there).

Writes ``results.json`` and ``table.md`` to ``--out`` (default ``$OUT`` or ``.``); exits 1
when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

GPU_LINE = re.compile(r'^(nv_\w+)\{gpu_uuid="(GPU-[^"]+)"\} (\d+(?:\.\d+)?)$')
COPY_LINE = re.compile(r'^tritoncore_memory_copy_(count|bytes)\{direction="(\w+)"\} (\d+)$')
FAILURES: list[str] = []
BATCH = 8


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


def make_repo(root: Path) -> None:
    import torch

    class AddOne(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2.0 + 1.0

    for name, kind in (("gpu_model", "KIND_GPU"), ("cpu_model", "KIND_CPU")):
        d = root / name / "1"
        d.mkdir(parents=True)
        torch.jit.script(AddOne()).save(str(d / "model.pt"))
        (root / name / "config.pbtxt").write_text(f"""
name: "{name}"
backend: "pytorch"
max_batch_size: 0
input [ {{ name: "INPUT__0" data_type: TYPE_FP32 dims: [ -1 ] }} ]
output [ {{ name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ -1 ] }} ]
instance_group [ {{ kind: {kind} count: 1 }} ]
""")
    # dynamic batching: BATCH concurrent requests make one full batch (the delay is only a
    # ceiling; a full batch leaves at once)
    d = root / "gpu_batched" / "1"
    d.mkdir(parents=True)
    torch.jit.script(AddOne()).save(str(d / "model.pt"))
    (root / "gpu_batched" / "config.pbtxt").write_text(f"""
name: "gpu_batched"
backend: "pytorch"
max_batch_size: {BATCH}
input [ {{ name: "INPUT__0" data_type: TYPE_FP32 dims: [ -1 ] }} ]
output [ {{ name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ -1 ] }} ]
instance_group [ {{ kind: KIND_GPU count: 1 }} ]
dynamic_batching {{ max_queue_delay_microseconds: 5000000 }}
""")


def scrape(url: str) -> tuple[dict[str, int], list[tuple[str, str, str]], str]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    copies: dict[str, int] = {}
    gpu: list[tuple[str, str, str]] = []
    for line in text.splitlines():
        m = COPY_LINE.match(line)
        if m:
            copies[f"{m.group(2)}_{m.group(1)}"] = int(m.group(3))
        g = GPU_LINE.match(line)
        if g:
            gpu.append((g.group(1), g.group(2), g.group(3)))
    return copies, gpu, text


def delta(after: dict[str, int], before: dict[str, int], key: str) -> int:
    return after.get(key, 0) - before.get(key, 0)


def stats(url: str, model: str) -> dict[str, Any]:
    doc = json.load(urllib.request.urlopen(f"{url}/v2/models/{model}/stats", timeout=10))
    s = doc["model_stats"][0]["inference_stats"]
    return {k: (s[k]["count"], s[k]["ns"]) for k in
            ("success", "queue", "compute_input", "compute_infer", "compute_output")}


def split(after: dict[str, Any], before: dict[str, Any]) -> dict[str, float]:
    n = after["success"][0] - before["success"][0]
    return {k: (after[k][1] - before[k][1]) / max(n, 1) / 1e6 for k in after}


def loop_stall(base: str, heavy: Any, iters: int) -> dict[str, float]:
    """Latency of a health check (answered on the server's event loop) alone, and while
    ``heavy`` requests run back to back: copies made on the loop show up as the difference."""
    import threading

    def health(times: list[float], stop: threading.Event | None, count: int) -> None:
        while (stop is None and len(times) < count) or (stop is not None
                                                         and not stop.is_set()):
            t = time.perf_counter()
            urllib.request.urlopen(f"{base}/v2/health/live", timeout=30).read()
            times.append((time.perf_counter() - t) * 1000)
            time.sleep(0.01)  # about 100 checks a second, busy or not

    idle: list[float] = []
    health(idle, None, 200)
    busy: list[float] = []
    stop = threading.Event()
    prober = threading.Thread(target=health, args=(busy, stop, 0))
    prober.start()
    start = time.perf_counter()
    for _ in range(iters):
        heavy()
    seconds = time.perf_counter() - start
    stop.set()
    prober.join()
    busy.sort()
    return {"idle_p50_ms": statistics.median(idle), "idle_max_ms": max(idle),
            "busy_p50_ms": statistics.median(busy), "busy_p99_ms": busy[int(len(busy) * 0.99)],
            "busy_max_ms": busy[-1], "health_checks": len(busy),
            "heavy_ms_each": seconds * 1000 / iters}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="checks only, 1 MiB, no timing")
    args = ap.parse_args()
    if args.quick:
        args.mib, args.iters = 1, 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import tritonclient.http as httpclient
    import tritonclient.utils.cuda_shared_memory as cudashm
    import tritonclient.utils.shared_memory as sysshm

    work = Path(tempfile.mkdtemp(prefix="gpu_data_path_"))
    make_repo(work / "models")
    ports = {"http": 28100, "grpc": 28101, "metrics": 28102}
    log_path = out / "server.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "tritoncore", "serve", "--model-repository",
         str(work / "models"), "--allow-client-shm=true", "--metrics-interval-ms", "500",
         "--http-max-input-size", str(256 << 20),
         *[f"--{k}-port={v}" for k, v in ports.items()]],
        stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    http_url = f"localhost:{ports['http']}"
    base = f"http://{http_url}"
    metrics_url = f"http://localhost:{ports['metrics']}/metrics"
    client = httpclient.InferenceServerClient(http_url, network_timeout=300,
                                              connection_timeout=300)
    results: dict[str, Any] = {}
    handles: list[Any] = []
    sys_handles: list[Any] = []
    try:
        for _ in range(240):
            try:
                if client.is_server_ready() and client.is_model_ready("gpu_model"):
                    break
            except Exception:  # noqa: BLE001, S110 - not up yet
                pass
            if server.poll() is not None:
                raise SystemExit("server exited; see " + str(log_path))
            time.sleep(0.5)
        else:
            raise SystemExit("server not ready in 120 s")

        n = args.mib * 1024 * 1024 // 4
        nbytes = n * 4
        x = (np.arange(n, dtype=np.float32) % 1000.0) - 500.25
        expected = x * 2.0 + 1.0

        # --- CUDA shm regions -------------------------------------------------------------
        h_in = cudashm.create_shared_memory_region("cin", nbytes, 0)
        h_out = cudashm.create_shared_memory_region("cout", nbytes, 0)
        handles += [h_in, h_out]
        cudashm.set_shared_memory_region(h_in, [x])
        client.register_cuda_shared_memory("cin", cudashm.get_raw_handle(h_in), 0, nbytes)
        client.register_cuda_shared_memory("cout", cudashm.get_raw_handle(h_out), 0, nbytes)
        status = {r["name"]: r for r in client.get_cuda_shared_memory_status()}
        check(status.get("cin", {}).get("byte_size") == nbytes, "CUDA shm status lists 'cin'")

        def cuda_infer(model: str) -> None:
            inp = httpclient.InferInput("INPUT__0", [n], "FP32")
            inp.set_shared_memory("cin", nbytes)
            o = httpclient.InferRequestedOutput("OUTPUT__0", binary_data=True)
            o.set_shared_memory("cout", nbytes)
            client.infer(model, [inp], outputs=[o])

        before, _, _ = scrape(metrics_url)
        cuda_infer("gpu_model")
        after, gpu_lines, text = scrape(metrics_url)
        got = cudashm.get_contents_as_numpy(h_out, np.float32, [n])
        check(np.array_equal(got, expected), "gpu_model: CUDA shm in/out, result exact")
        d2h = delta(after, before, "device_to_host_count")
        check(d2h == 0, f"gpu_model via CUDA shm: device-to-host copies = {d2h} (want 0)")
        check(delta(after, before, "host_to_device_count") == 0,
              "gpu_model via CUDA shm: host-to-device copies = 0")
        d2d = delta(after, before, "device_to_device_count")
        check(d2d == 1, f"gpu_model via CUDA shm: device-to-device copies = {d2d} (want 1, "
                        "the output into the region)")
        results["copies_gpu_model_cuda_shm"] = {k: delta(after, before, k) for k in after}

        cudashm.set_shared_memory_region(h_out, [np.zeros(n, np.float32)])
        before, _, _ = scrape(metrics_url)
        cuda_infer("cpu_model")
        after, _, _ = scrape(metrics_url)
        got = cudashm.get_contents_as_numpy(h_out, np.float32, [n])
        check(np.array_equal(got, expected), "cpu_model: CUDA shm in/out, result exact")
        d2h = delta(after, before, "device_to_host_count")
        check(d2h == 1, f"cpu_model via CUDA shm: device-to-host copies = {d2h} (want 1)")
        check(delta(after, before, "device_to_host_bytes") == nbytes,
              "cpu_model via CUDA shm: the one copy moved the input's bytes")
        results["copies_cpu_model_cuda_shm"] = {k: delta(after, before, k) for k in after}

        # --- the same over gRPC -------------------------------------------------------------
        import tritonclient.grpc as grpcclient

        gclient = grpcclient.InferenceServerClient(f"localhost:{ports['grpc']}")
        cudashm.set_shared_memory_region(h_out, [np.zeros(n, np.float32)])
        before, _, _ = scrape(metrics_url)
        ginp = grpcclient.InferInput("INPUT__0", [n], "FP32")
        ginp.set_shared_memory("cin", nbytes)
        gout = grpcclient.InferRequestedOutput("OUTPUT__0")
        gout.set_shared_memory("cout", nbytes)
        gclient.infer("gpu_model", [ginp], outputs=[gout])
        after, _, _ = scrape(metrics_url)
        got = cudashm.get_contents_as_numpy(h_out, np.float32, [n])
        check(np.array_equal(got, expected), "gRPC gpu_model: CUDA shm in/out, result exact")
        d2h = delta(after, before, "device_to_host_count")
        check(d2h == 0, f"gRPC gpu_model via CUDA shm: device-to-host copies = {d2h} (want 0)")
        gstatus = gclient.get_cuda_shared_memory_status(as_json=True)
        check("cin" in json.dumps(gstatus), "gRPC CUDA shm status lists 'cin'")
        gclient.close()

        # --- dynamic batching: concurrent requests with inputs and outputs in CUDA shm -------
        m = n // BATCH
        xs = np.stack([x[:m] + 1000.0 * i for i in range(BATCH)])
        h_bin = cudashm.create_shared_memory_region("bin", BATCH * m * 4, 0)
        h_bout = cudashm.create_shared_memory_region("bout", BATCH * m * 4, 0)
        handles += [h_bin, h_bout]
        cudashm.set_shared_memory_region(h_bin, [xs])
        client.register_cuda_shared_memory("bin", cudashm.get_raw_handle(h_bin), 0,
                                           BATCH * m * 4)
        client.register_cuda_shared_memory("bout", cudashm.get_raw_handle(h_bout), 0,
                                           BATCH * m * 4)
        bclient = httpclient.InferenceServerClient(http_url, concurrency=BATCH,
                                                   network_timeout=300)
        before, _, _ = scrape(metrics_url)
        pending = []
        for i in range(BATCH):
            inp = httpclient.InferInput("INPUT__0", [1, m], "FP32")
            inp.set_shared_memory("bin", m * 4, offset=i * m * 4)
            o = httpclient.InferRequestedOutput("OUTPUT__0", binary_data=True)
            o.set_shared_memory("bout", m * 4, offset=i * m * 4)
            pending.append(bclient.async_infer("gpu_batched", [inp], outputs=[o]))
        for p in pending:
            p.get_result()
        after, _, _ = scrape(metrics_url)
        bclient.close()
        doc = json.load(urllib.request.urlopen(f"{base}/v2/models/gpu_batched/stats",
                                               timeout=10))["model_stats"][0]
        batches = {b["batch_size"]: b["compute_infer"]["count"] for b in doc["batch_stats"]}
        got = cudashm.get_contents_as_numpy(h_bout, np.float32, [BATCH, m])
        check(np.array_equal(got, xs * 2.0 + 1.0),
              f"gpu_batched: {BATCH} concurrent requests, CUDA shm in/out, results exact")
        check((doc["execution_count"], doc["inference_count"], batches) == (1, BATCH, {BATCH: 1}),
              f"gpu_batched: one execution of batch {BATCH} (executions "
              f"{doc['execution_count']}, inferences {doc['inference_count']}, batches "
              f"{batches})")
        counts = tuple(delta(after, before, f"{d}_count") for d in
                       ("device_to_host", "host_to_device", "device_to_device"))
        check(counts == (0, 0, BATCH),
              f"gpu_batched: D2H / H2D / D2D copies = {counts} (want 0 / 0 / {BATCH}: the "
              "batch is gathered on the GPU, each output goes device-to-device into its place)")
        check(delta(after, before, "device_to_device_bytes") == BATCH * m * 4,
              "gpu_batched: the device-to-device copies moved the outputs' bytes")
        results["copies_gpu_batched_cuda_shm"] = {k: delta(after, before, k) for k in after}
        results["gpu_batched_stats"] = {"execution_count": doc["execution_count"],
                                        "batches": batches}

        # --- pinned pool: downloads of outputs are staged through it too ---------------------
        key = f"/gpu_data_path_{os.getpid()}"
        s_out = sysshm.create_shared_memory_region("pout", key + "_pout", nbytes)
        sys_handles.append(s_out)
        client.register_system_shared_memory("pout", key + "_pout", nbytes)
        inp = httpclient.InferInput("INPUT__0", [n], "FP32")
        inp.set_data_from_numpy(x, binary_data=True)
        o = httpclient.InferRequestedOutput("OUTPUT__0", binary_data=True)
        o.set_shared_memory("pout", nbytes)
        client.infer("gpu_model", [inp], outputs=[o])
        check(np.array_equal(sysshm.get_contents_as_numpy(s_out, np.float32, [n]), expected),
              "gpu_model: HTTP body in, system shm out, result exact")
        o = httpclient.InferRequestedOutput("OUTPUT__0", binary_data=True)
        r = client.infer("gpu_model", [inp], outputs=[o])
        check(np.array_equal(r.as_numpy("OUTPUT__0"), expected),
              "gpu_model: HTTP body in and out, result exact")
        _, _, text = scrape(metrics_url)
        check("nv_pinned_memory_pool_used_bytes 0" in text,
              "pinned pool: 0 bytes used after downloads of outputs (HTTP body, system shm, "
              "and the CUDA-shm input of cpu_model)")

        # --- validation on the GPU --------------------------------------------------------
        inp = httpclient.InferInput("INPUT__0", [n], "FP32")
        inp.set_shared_memory("cin", nbytes, offset=4)
        try:
            client.infer("gpu_model", [inp])
            check(False, "an input past the end of a CUDA region is refused")
        except Exception as exc:  # noqa: BLE001
            check("outside the region" in str(exc), f"past-the-end input refused: {exc}")
        h_bad = cudashm.create_shared_memory_region("cbad", 1024, 0)
        handles.append(h_bad)
        try:
            client.register_cuda_shared_memory("cbad", cudashm.get_raw_handle(h_bad), 7, 1024)
            check(False, "device_id 7 is refused")
        except Exception as exc:  # noqa: BLE001
            check("device_id 7" in str(exc), f"wrong device id refused: {exc}")

        # --- pinned pool: host inputs of the GPU model are staged through it -------------------
        small = np.arange(1024, dtype=np.float32)
        inp = httpclient.InferInput("INPUT__0", [1024], "FP32")
        inp.set_data_from_numpy(small, binary_data=True)
        r = client.infer("gpu_model", [inp])
        check(np.array_equal(r.as_numpy("OUTPUT__0"), small * 2 + 1), "host input, GPU model")
        _, _, text = scrape(metrics_url)
        check("nv_pinned_memory_pool_total_bytes 268435456" in text
              and "nv_pinned_memory_pool_used_bytes 0" in text,
              "pinned pool metrics: 268435456 total, 0 used after the request")

        # --- GPU metrics --------------------------------------------------------------------
        time.sleep(1.2)
        _, gpu_lines, text = scrape(metrics_url)
        names = {name for name, _, _ in gpu_lines}
        want = {"nv_gpu_utilization", "nv_gpu_memory_total_bytes", "nv_gpu_memory_used_bytes",
                "nv_gpu_power_usage", "nv_gpu_power_limit", "nv_energy_consumption"}
        check(want <= names, f"GPU metrics parse with perf_analyzer's regex: {sorted(names)}")
        results["gpu_metrics"] = [f'{a}{{gpu_uuid="{b}"}} {c}' for a, b, c in gpu_lines]
        (out / "metrics.txt").write_text(text)

        # --- timing ---------------------------------------------------------------------------
        if args.iters:
            key = f"/gpu_data_path_{os.getpid()}"
            s_in = sysshm.create_shared_memory_region("sin", key + "_in", nbytes)
            s_out = sysshm.create_shared_memory_region("sout", key + "_out", nbytes)
            sys_handles += [s_in, s_out]
            sysshm.set_shared_memory_region(s_in, [x])
            client.register_system_shared_memory("sin", key + "_in", nbytes)
            client.register_system_shared_memory("sout", key + "_out", nbytes)

            def sys_infer() -> None:
                inp = httpclient.InferInput("INPUT__0", [n], "FP32")
                inp.set_shared_memory("sin", nbytes)
                o = httpclient.InferRequestedOutput("OUTPUT__0", binary_data=True)
                o.set_shared_memory("sout", nbytes)
                client.infer("gpu_model", [inp], outputs=[o])

            def body_infer() -> None:
                inp = httpclient.InferInput("INPUT__0", [n], "FP32")
                inp.set_data_from_numpy(x, binary_data=True)
                o = httpclient.InferRequestedOutput("OUTPUT__0", binary_data=True)
                r = client.infer("gpu_model", [inp], outputs=[o])
                r.as_numpy("OUTPUT__0")

            modes = [("CUDA shm (in+out)", lambda: cuda_infer("gpu_model")),
                     ("system shm (in+out)", sys_infer),
                     ("binary HTTP body", body_infer),
                     ("CUDA shm (in+out), KIND_CPU model", lambda: cuda_infer("cpu_model"))]
            rows = []
            for label, fn in modes:
                for _ in range(3):
                    fn()
                c0, _, _ = scrape(metrics_url)
                s0 = stats(base, "gpu_model")
                cpu0 = stats(base, "cpu_model")
                times = []
                for _ in range(args.iters):
                    t = time.perf_counter()
                    fn()
                    times.append((time.perf_counter() - t) * 1000)
                s1 = stats(base, "gpu_model")
                cpu1 = stats(base, "cpu_model")
                c1, _, _ = scrape(metrics_url)
                parts = split(cpu1, cpu0) if "KIND_CPU" in label else split(s1, s0)
                per = {k: delta(c1, c0, k) / args.iters for k in c1 if k.endswith("_count")}
                rows.append({"mode": label, "p50_ms": statistics.median(times),
                             "mean_ms": statistics.fmean(times), "min_ms": min(times),
                             "server_ms": parts, "copies_per_request": per})
                print(label, rows[-1], flush=True)
            check(np.array_equal(sysshm.get_contents_as_numpy(s_out, np.float32, [n]),
                                 expected), "system shm output exact")
            results["timing"] = rows
            results["loop_stall"] = loop_stall(base, lambda: cuda_infer("cpu_model"),
                                               args.iters)
            print("loop stall", results["loop_stall"], flush=True)
            import torch

            def copy_ms(fn: Any) -> float:
                fn()
                torch.cuda.synchronize()
                t = time.perf_counter()
                for _ in range(5):
                    fn()
                torch.cuda.synchronize()
                return (time.perf_counter() - t) * 200

            xt = torch.from_numpy(x)
            xd = xt.cuda()
            pinned = xt.pin_memory()
            raw = {"H2D pageable": copy_ms(lambda: xt.cuda()),
                   "H2D pinned": copy_ms(lambda: pinned.cuda(non_blocking=True)),
                   "D2H pageable": copy_ms(lambda: xd.cpu()),
                   "D2H pinned": copy_ms(lambda: pinned.copy_(xd, non_blocking=True)),
                   "D2D": copy_ms(lambda: xd.clone())}
            results["raw_copy_ms"] = raw
            caption = (f"{args.mib} MiB FP32 in, {args.mib} MiB out, `y = 2x + 1` on the GPU "
                       f"(KIND_GPU TorchScript), tritonclient HTTP, {args.iters} requests "
                       "after 3 warm-ups, end to end (call to result in place). Server "
                       "columns: per-request averages from the model's statistics (request: "
                       "queue to response; compute: the backend's execute, which includes "
                       "its host<->device copies). One copy of the tensor on this GPU alone: "
                       + ", ".join(f"{k} {v:.2f} ms" for k, v in raw.items()) + ".")
            header = ("| path | p50 ms | mean ms | min ms | server request ms | "
                      "server compute ms | D2H / H2D / D2D copies per request |")
            lines = [caption, "", header, "|---|---|---|---|---|---|---|"]
            for r in rows:
                s = r["server_ms"]
                c = r["copies_per_request"]
                lines.append(
                    f"| {r['mode']} | {r['p50_ms']:.2f} | {r['mean_ms']:.2f} | "
                    f"{r['min_ms']:.2f} | {s['success']:.2f} | "
                    f"{s['compute_input'] + s['compute_infer'] + s['compute_output']:.2f} | "
                    f"{c.get('device_to_host_count', 0):g} / "
                    f"{c.get('host_to_device_count', 0):g} / "
                    f"{c.get('device_to_device_count', 0):g} |")
            st = results["loop_stall"]
            lines += ["", (f"Health check (answered on the event loop) while {args.mib} MiB "
                          "CUDA-shm requests to cpu_model (one device-to-host copy of the "
                          "input, one host-to-device copy of the output) run back to back: "
                          f"p50 {st['busy_p50_ms']:.2f} ms, p99 {st['busy_p99_ms']:.2f} ms, "
                          f"max {st['busy_max_ms']:.2f} ms over {st['health_checks']} checks "
                          f"(idle: p50 {st['idle_p50_ms']:.2f} ms, max "
                          f"{st['idle_max_ms']:.2f} ms); each heavy request "
                          f"{st['heavy_ms_each']:.1f} ms.")]
            (out / "table.md").write_text("\n".join(lines) + "\n")
            print("\n".join(lines))
    finally:
        try:
            client.unregister_cuda_shared_memory()
            client.unregister_system_shared_memory()
        except Exception as exc:  # noqa: BLE001
            print("unregister failed:", exc)
        for h in handles:
            cudashm.destroy_shared_memory_region(h)
        for h in sys_handles:
            sysshm.destroy_shared_memory_region(h)
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        results["failures"] = FAILURES
        (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print("FAILURES:" if FAILURES else "all checks passed", *FAILURES, sep="\n  ")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
