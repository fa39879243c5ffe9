"""A GPU instance's outputs come down through the server's pinned pool, and every block goes
back before the responses leave (marked ``gpu``; skips without a CUDA GPU)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch_serving import repo_fixture, request, serve, write_model  # noqa: F401
from tritoncore.frontends import shm_io
from tritoncore.memory import copies, pinned_pool
from tritoncore.memory.destinations import ShmRef

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning"),
]

N = 1 << 18  # FP32 elements per request: 1 MiB
K = 8  # concurrent requests, one full batch

CONFIG = f"""
name: "affine"
platform: "pytorch_libtorch"
max_batch_size: {K}
input [ {{ name: "INPUT__0", data_type: TYPE_FP32, dims: [ -1 ] }} ]
output [ {{ name: "OUTPUT__0", data_type: TYPE_FP32, dims: [ -1 ] }} ]
instance_group [ {{ kind: KIND_GPU, count: 1 }} ]
dynamic_batching {{ max_queue_delay_microseconds: 5000000 }}
"""


class Affine(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2.0 + 1.0


def test_outputs_come_down_through_the_pinned_pool_and_every_block_goes_back(
        repo: Path) -> None:
    write_model(repo, "affine", CONFIG, torch.jit.script(Affine()))
    key = f"/tritoncore_gpu_downloads_{os.getpid()}"
    path = "/dev/shm" + key
    with open(path, "wb") as f:
        f.truncate(K * N * 4)
    xs = [np.arange(N, dtype=np.float32).reshape(1, N) - 1000.5 * i for i in range(K)]

    async def body(server: Any) -> Any:
        pool = pinned_pool.pool()
        given: list[int] = []
        acquire = pool.acquire

        def recording(nbytes: int) -> pinned_pool.PinnedBlock | None:
            given.append(nbytes)
            return acquire(nbytes)

        pool.acquire = recording  # type: ignore[method-assign]
        server.system_shm.register("out", key, 0, K * N * 4)
        requests = [request("affine", None, INPUT__0=x) for x in xs]
        for i in range(K // 2, K):  # half of them want their output in the client's region
            shm_io.want_on_device(server, requests[i], "OUTPUT__0",
                                  ShmRef("out", i * N * 4, N * 4))
        before = copies.snapshot()[copies.DEVICE_TO_HOST]
        responses = await asyncio.gather(*(server.infer(r) for r in requests))
        after = copies.snapshot()[copies.DEVICE_TO_HOST]
        region = np.frombuffer(server.system_shm.view("out", 0, K * N * 4), np.float32)
        outputs = [r.outputs[0] for r in responses]
        result = (given, pool.used_bytes, after[0] - before[0], after[1] - before[1],
                  server.model("affine").stats.execution_count, outputs,
                  [pool.holds(t.data) for t in outputs], region.reshape(K, N).copy())
        server.system_shm.unregister()
        return result

    try:
        given, used, d2h, d2h_bytes, executions, outputs, in_pool, region = serve(
            repo, body, allow_client_shm=True)
    finally:
        os.unlink(path)
    assert executions == 1  # one batch of K
    # one block for the batch's upload, one for its download; both back before the responses
    assert given == [K * N * 4, K * N * 4]
    assert used == 0
    assert (d2h, d2h_bytes) == (1, K * N * 4)
    assert in_pool == [False] * K  # copied out of the pool, not views of it
    for i, (x, out) in enumerate(zip(xs, outputs)):
        want = x * 2.0 + 1.0
        if i < K // 2:
            assert out.shm_written is None
            np.testing.assert_array_equal(out.as_numpy(), want)
        else:  # written straight into the region by the backend, marked so nobody rewrites
            assert out.shm_written == ("out", i * N * 4, N * 4)
            np.testing.assert_array_equal(region[i], want[0])
