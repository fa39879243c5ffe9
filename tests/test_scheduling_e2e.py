"""Scheduling end to end: the real ``tritonclient`` (HTTP and gRPC) against a real
``tritoncore serve`` process: dynamic batching, priorities, queue full and queue timeouts
(as errors and as counted failures), sequences with per-correlation-ID state, ensembles.

One server serves every model; each test uses its own models so their statistics are its own.
Timing-based tests hold a single instance busy with the identity backend's
``execute_delay_ms`` and send the rest while it is busy, with wide margins.
"""

from __future__ import annotations

import queue
import shutil
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from serverproc import ServerProcess
from tritonclient.utils import InferenceServerException

MODELS = Path(__file__).parent / "models_e2e"
EXAMPLE_ADD_SUB = (Path(__file__).resolve().parents[1] / "examples" / "model_repository"
                   / "add_sub" / "1" / "model.py")


def identity(name: str, dynamic: str | None, delay_ms: int, max_batch_size: int = 8,
             dims: str = "-1") -> str:
    batcher = f"dynamic_batching {{ {dynamic} }}" if dynamic is not None else ""
    return f"""
        name: "{name}"
        backend: "identity"
        max_batch_size: {max_batch_size}
        input [ {{ name: "INPUT0", data_type: TYPE_FP32, dims: [ {dims} ] }} ]
        output [ {{ name: "OUTPUT0", data_type: TYPE_FP32, dims: [ {dims} ] }} ]
        instance_group [ {{ count: 1, kind: KIND_CPU }} ]
        parameters {{ key: "execute_delay_ms" value {{ string_value: "{delay_ms}" }} }}
        {batcher}"""


def accumulator(name: str, corrid_type: str) -> str:
    return f"""
        name: "{name}"
        backend: "python"
        max_batch_size: 4
        input [ {{ name: "INPUT", data_type: TYPE_INT32, dims: [ 1 ] }} ]
        output [ {{ name: "OUTPUT", data_type: TYPE_INT32, dims: [ 1 ] }} ]
        instance_group [ {{ count: 1, kind: KIND_CPU }} ]
        sequence_batching {{
          max_sequence_idle_microseconds: 60000000
          control_input [
            {{ name: "START" control [ {{ kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] }} ] }},
            {{ name: "END" control [ {{ kind: CONTROL_SEQUENCE_END int32_false_true: [ 0, 1 ] }} ] }},
            {{ name: "CORRID" control [ {{ kind: CONTROL_SEQUENCE_CORRID data_type: {corrid_type} }} ] }}
          ]
        }}"""


ADD_SUB = """
    name: "add_sub_py"
    backend: "python"
    max_batch_size: 8
    input [ { name: "INPUT0", data_type: TYPE_FP32, dims: [ 4 ] },
            { name: "INPUT1", data_type: TYPE_FP32, dims: [ 4 ] } ]
    output [ { name: "OUTPUT0", data_type: TYPE_FP32, dims: [ 4 ] },
             { name: "OUTPUT1", data_type: TYPE_FP32, dims: [ 4 ] } ]
    instance_group [ { count: 1, kind: KIND_CPU } ]"""


def step(model: str, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    ins = " ".join(f'input_map {{ key: "{k}" value: "{v}" }}' for k, v in inputs.items())
    outs = " ".join(f'output_map {{ key: "{k}" value: "{v}" }}' for k, v in outputs.items())
    return f'{{ model_name: "{model}" model_version: -1 {ins} {outs} }}'


def ensemble(name: str, outputs: tuple[str, str], steps: list[str]) -> str:
    outs = ", ".join(f'{{ name: "{o}", data_type: TYPE_FP32, dims: [ 4 ] }}' for o in outputs)
    return f"""
        name: "{name}"
        platform: "ensemble"
        max_batch_size: 8
        input [ {{ name: "A", data_type: TYPE_FP32, dims: [ 4 ] }},
                {{ name: "B", data_type: TYPE_FP32, dims: [ 4 ] }} ]
        output [ {outs} ]
        ensemble_scheduling {{ step [ {", ".join(steps)} ] }}"""


def write(repo: Path, name: str, config: str, model_py: Path | None = None) -> None:
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "config.pbtxt").write_text(textwrap.dedent(config))
    if model_py is not None:
        shutil.copy(model_py, repo / name / "1" / "model.py")


def make_repo(repo: Path) -> Path:
    write(repo, "batched", identity("batched", "max_queue_delay_microseconds: 20000", 20))
    write(repo, "prio", identity("prio", "priority_levels: 2 default_priority_level: 2", 300,
                                 max_batch_size=1))
    write(repo, "qfull", identity("qfull", "default_queue_policy { max_queue_size: 1 }", 500,
                                  max_batch_size=1))
    write(repo, "tmo", identity("tmo", """default_queue_policy {
        timeout_action: REJECT default_timeout_microseconds: 20000000
        allow_timeout_override: true }""", 500, max_batch_size=1))
    write(repo, "no_override", identity("no_override", """default_queue_policy {
        allow_timeout_override: false }""", 300, max_batch_size=1))
    write(repo, "acc_int", accumulator("acc_int", "TYPE_UINT64"), MODELS / "accumulate.py")
    write(repo, "acc_str", accumulator("acc_str", "TYPE_STRING"), MODELS / "accumulate.py")
    write(repo, "add_sub_py", ADD_SUB, EXAMPLE_ADD_SUB)
    write(repo, "ident4", identity("ident4", None, 0, dims="4"))
    # python -> identity
    write(repo, "ens2", ensemble("ens2", ("SUM", "DIFF"), [
        step("add_sub_py", {"INPUT0": "A", "INPUT1": "B"}, {"OUTPUT0": "s", "OUTPUT1": "DIFF"}),
        step("ident4", {"INPUT0": "s"}, {"OUTPUT0": "SUM"})]))
    # identity -> python -> python: (a + b) + (a - b) = 2a, (a + b) - (a - b) = 2b
    write(repo, "ens3", ensemble("ens3", ("TWICE_A", "TWICE_B"), [
        step("add_sub_py", {"INPUT0": "s", "INPUT1": "d"},
             {"OUTPUT0": "TWICE_A", "OUTPUT1": "TWICE_B"}),  # listed first: runs last
        step("ident4", {"INPUT0": "A"}, {"OUTPUT0": "a"}),
        step("add_sub_py", {"INPUT0": "a", "INPUT1": "B"}, {"OUTPUT0": "s", "OUTPUT1": "d"})]))
    return repo


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("scheduling_e2e")
    repo = make_repo(root / "models")
    proc = ServerProcess(repo, log_dir=root).start()
    yield proc
    proc.stop()


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(server.http_url, concurrency=16)
    yield client
    client.close()


@pytest.fixture
def grpc(server: ServerProcess) -> Iterator[grpcclient.InferenceServerClient]:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    yield client
    client.close()


Client = Any  # httpclient or grpcclient module


def inputs(module: Client, **arrays: np.ndarray) -> list[Any]:
    out = []
    for name, array in arrays.items():
        datatype = {np.float32: "FP32", np.int32: "INT32"}[array.dtype.type]
        tensor = module.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        out.append(tensor)
    return out


def row(value: float, width: int = 3) -> np.ndarray:
    return np.full((1, width), value, dtype=np.float32)


def stats(http: httpclient.InferenceServerClient, model: str) -> dict[str, Any]:
    return http.get_inference_statistics(model)["model_stats"][0]


def counts(http: httpclient.InferenceServerClient, model: str) -> tuple[int, int]:
    s = stats(http, model)["inference_stats"]
    return s["success"]["count"], s["fail"]["count"]


def metric(server: ServerProcess, family: str, model: str, **labels: str) -> float:
    """One sample of /metrics (which must answer 200 whatever schedulers are loaded)."""
    text = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    want = [f'model="{model}"', *(f'{k}="{v}"' for k, v in labels.items())]
    for line in text.splitlines():
        if line.startswith(family + "{") and all(w in line for w in want):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {family} sample for {model} {labels}:\n{text}")


def failure_metric(server: ServerProcess, model: str, reason: str) -> float:
    return metric(server, "nv_inference_request_failure", model, reason=reason)


def http_error(call: Callable[[], object]) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as info:
        call()
    return info.value


# -- dynamic batching ----------------------------------------------------------------------------

def test_concurrent_requests_are_batched_over_http_and_grpc(
        http: httpclient.InferenceServerClient, grpc: grpcclient.InferenceServerClient) -> None:
    pending = [http.async_infer("batched", inputs(httpclient, INPUT0=row(i)), request_id=str(i))
               for i in range(16)]
    answers: queue.Queue[tuple[int, Any, Any]] = queue.Queue()
    for i in range(16, 32):
        grpc.async_infer("batched", inputs(grpcclient, INPUT0=row(i)),
                         lambda result, error, i=i: answers.put((i, result, error)))
    for i, p in enumerate(pending):  # every client gets its own answer back
        np.testing.assert_array_equal(p.get_result().as_numpy("OUTPUT0"), row(i))
    for _ in range(16):
        i, result, error = answers.get(timeout=30)
        assert error is None, error
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), row(i))

    s = stats(http, "batched")
    assert s["inference_count"] == 32
    assert s["execution_count"] < 32  # requests shared executions
    sizes = {b["batch_size"]: b["compute_infer"]["count"] for b in s["batch_stats"]}
    assert sum(size * n for size, n in sizes.items()) == 32
    assert sum(sizes.values()) == s["execution_count"]
    assert max(sizes) <= 8 and max(sizes) > 1  # max_batch_size holds; something batched
    assert s["inference_stats"]["success"]["count"] == 32
    grpc_stats = grpc.get_inference_statistics("batched").model_stats[0]
    assert (grpc_stats.inference_count, grpc_stats.execution_count) == (
        32, s["execution_count"])


# -- priorities ----------------------------------------------------------------------------------

def test_high_priority_overtakes_queued_low_priority(grpc: grpcclient.InferenceServerClient,
                                                     http: httpclient.InferenceServerClient,
                                                     server: ServerProcess) -> None:
    finished: list[str] = []
    lock = threading.Lock()

    def send(tag: str, priority: int) -> None:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        try:
            client.infer("prio", inputs(grpcclient, INPUT0=row(1.0)), request_id=tag,
                         priority=priority)
        finally:
            client.close()
        with lock:
            finished.append(tag)

    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(send, "busy", 0)]  # occupies the only instance for 300 ms
        time.sleep(0.05)
        for tag, priority in (("low0", 0), ("low1", 2), ("low2", 0)):  # 0: default level 2
            futures.append(pool.submit(send, tag, priority))
            time.sleep(0.02)
        futures.append(pool.submit(send, "high", 1))
        for f in futures:
            f.result(timeout=30)
    assert finished[:2] == ["busy", "high"], finished
    assert sorted(finished[2:]) == ["low0", "low1", "low2"]
    assert counts(http, "prio") == (5, 0)


# -- queue policies ------------------------------------------------------------------------------

def run_while_busy(model: str, server: ServerProcess,
                   body: Callable[[ThreadPoolExecutor], list[Future[Any]]]) -> Any:
    """Start one request that holds the model's only instance, then call ``body``."""
    def busy() -> np.ndarray:
        client = httpclient.InferenceServerClient(server.http_url)
        try:
            return client.infer(model, inputs(httpclient, INPUT0=row(-1))).as_numpy("OUTPUT0")
        finally:
            client.close()

    with ThreadPoolExecutor(4) as pool:
        running = pool.submit(busy)
        time.sleep(0.1)
        others = body(pool)
        np.testing.assert_array_equal(running.result(timeout=30), row(-1))
        return [f.result(timeout=30) for f in others]


def test_queue_full_is_rejected_and_counted(server: ServerProcess,
                                            http: httpclient.InferenceServerClient,
                                            grpc: grpcclient.InferenceServerClient) -> None:
    def body(pool: ThreadPoolExecutor) -> list[Future[Any]]:
        queued = pool.submit(lambda: grpcclient.InferenceServerClient(server.grpc_url).infer(
            "qfull", inputs(grpcclient, INPUT0=row(2))).as_numpy("OUTPUT0"))
        time.sleep(0.1)  # the one queue place is taken
        assert metric(server, "nv_inference_pending_request_count", "qfull") == 1
        err = http_error(lambda: http.infer("qfull", inputs(httpclient, INPUT0=row(3))))
        assert err.status() == "503"
        assert "exceeds maximum queue size" in err.message()
        err = http_error(lambda: grpc.infer("qfull", inputs(grpcclient, INPUT0=row(4))))
        assert err.status() == "StatusCode.UNAVAILABLE"
        assert "exceeds maximum queue size" in err.message()
        return [queued]

    [queued] = run_while_busy("qfull", server, body)
    np.testing.assert_array_equal(queued, row(2))
    assert counts(http, "qfull") == (2, 2)
    assert failure_metric(server, "qfull", "REJECTED") == 2
    assert failure_metric(server, "qfull", "BACKEND") == 0
    # and the model keeps serving
    result = http.infer("qfull", inputs(httpclient, INPUT0=row(5)))
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), row(5))
    assert counts(http, "qfull") == (3, 2)


def test_request_timeout_rejects_a_waiting_request(server: ServerProcess,
                                                   http: httpclient.InferenceServerClient) -> None:
    def expired_http() -> InferenceServerException:
        client = httpclient.InferenceServerClient(server.http_url)
        try:  # Triton's "timeout" request parameter, in microseconds
            return http_error(lambda: client.infer("tmo", inputs(httpclient, INPUT0=row(2)),
                                                   timeout=50_000))
        finally:
            client.close()

    def expired_grpc() -> InferenceServerException:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        try:
            return http_error(lambda: client.infer("tmo", inputs(grpcclient, INPUT0=row(3)),
                                                   timeout=50_000))
        finally:
            client.close()

    def patient() -> np.ndarray:  # the policy's default timeout (20 s) is long enough
        client = grpcclient.InferenceServerClient(server.grpc_url)
        try:
            return client.infer("tmo", inputs(grpcclient, INPUT0=row(4))).as_numpy("OUTPUT0")
        finally:
            client.close()

    h, g, p = run_while_busy("tmo", server, lambda pool: [
        pool.submit(expired_http), pool.submit(expired_grpc), pool.submit(patient)])
    assert h.status() == "503" and "timed out after waiting" in h.message()
    assert g.status() == "StatusCode.UNAVAILABLE" and "timed out after waiting" in g.message()
    np.testing.assert_array_equal(p, row(4))
    assert counts(http, "tmo") == (2, 2)
    assert failure_metric(server, "tmo", "REJECTED") == 2
    result = http.infer("tmo", inputs(httpclient, INPUT0=row(5)), timeout=10_000_000)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), row(5))


def test_request_timeout_is_ignored_without_allow_timeout_override(
        server: ServerProcess, http: httpclient.InferenceServerClient) -> None:
    def short_timeout() -> np.ndarray:
        client = httpclient.InferenceServerClient(server.http_url)
        try:
            return client.infer("no_override", inputs(httpclient, INPUT0=row(2)),
                                timeout=1_000).as_numpy("OUTPUT0")
        finally:
            client.close()

    [result] = run_while_busy("no_override", server, lambda pool: [pool.submit(short_timeout)])
    np.testing.assert_array_equal(result, row(2))
    assert counts(http, "no_override") == (2, 0)


# -- sequences -----------------------------------------------------------------------------------

def value(result: Any) -> int:
    return int(result.as_numpy("OUTPUT").reshape(-1)[0])


def seq_step(client: Any, module: Client, model: str, corr: int | str, v: int,
             start: bool = False, end: bool = False) -> int:
    return value(client.infer(model, inputs(module, INPUT=np.array([[v]], dtype=np.int32)),
                              sequence_id=corr, sequence_start=start, sequence_end=end))


def test_interleaved_sequences_keep_their_own_state(
        http: httpclient.InferenceServerClient, grpc: grpcclient.InferenceServerClient) -> None:
    # Client A over HTTP, client B over gRPC, strictly alternating on one model.
    a = lambda v, **kw: seq_step(http, httpclient, "acc_int", 1001, v, **kw)
    b = lambda v, **kw: seq_step(grpc, grpcclient, "acc_int", 2**40 + 7, v, **kw)
    got = [a(1, start=True), b(10, start=True), a(2), b(20), a(3, end=True), b(30),
           b(40, end=True)]
    assert got == [1, 10, 3, 30, 6, 60, 100]
    # the ID is free again after END: a new sequence starts from zero
    assert [a(5, start=True), a(5, end=True)] == [5, 10]


def test_concurrent_sequences_with_string_ids(server: ServerProcess) -> None:
    def client_run(corr: str, use_grpc: bool, values: list[int]) -> list[int]:
        module = grpcclient if use_grpc else httpclient
        client = module.InferenceServerClient(server.grpc_url if use_grpc else server.http_url)
        try:
            return [seq_step(client, module, "acc_str", corr, v, start=i == 0,
                             end=i == len(values) - 1) for i, v in enumerate(values)]
        finally:
            client.close()

    plan = {"alice": (False, [1, 2, 3, 4, 5, 6]), "bob": (True, [100, 200, 300, 400, 500, 600]),
            "carol": (False, [7] * 6)}
    with ThreadPoolExecutor(3) as pool:
        futures = {corr: pool.submit(client_run, corr, g, vs) for corr, (g, vs) in plan.items()}
        results = {corr: f.result(timeout=60) for corr, f in futures.items()}
    assert results == {corr: list(np.cumsum(vs)) for corr, (_, vs) in plan.items()}


def test_sequence_errors_are_invalid_argument_and_the_model_keeps_serving(
        http: httpclient.InferenceServerClient, grpc: grpcclient.InferenceServerClient) -> None:
    one = np.array([[1]], dtype=np.int32)
    err = http_error(lambda: http.infer("acc_int", inputs(httpclient, INPUT=one),
                                        sequence_id=555))
    assert err.status() == "400" and "must specify the START flag" in err.message()
    err = http_error(lambda: grpc.infer("acc_int", inputs(grpcclient, INPUT=one)))
    assert err.status() == "StatusCode.INVALID_ARGUMENT"
    assert "non-zero or non-empty correlation ID" in err.message()
    err = http_error(lambda: http.infer("batched", inputs(httpclient, INPUT0=row(1)),
                                        sequence_id=9, sequence_start=True))
    assert err.status() == "400" and "not configured for sequence batching" in err.message()
    err = http_error(lambda: grpc.infer("acc_str", inputs(grpcclient, INPUT=one),
                                        sequence_id="dave"))
    assert err.status() == "StatusCode.INVALID_ARGUMENT"
    assert "must specify the START flag" in err.message()
    assert seq_step(grpc, grpcclient, "acc_str", "dave", 4, start=True, end=True) == 4


def test_a_sequence_restarted_before_its_end_ran_keeps_order(
        server: ServerProcess) -> None:
    # One gRPC stream, no waiting between requests: END of the first sequence and START of
    # the next one with the same ID are both queued before either runs.
    results: queue.Queue[Any] = queue.Queue()
    client = grpcclient.InferenceServerClient(server.grpc_url)
    client.start_stream(lambda result, error: results.put(error or value(result)))
    try:
        for i, v in enumerate([1, 2, 10, 20, 30]):
            client.async_stream_infer("acc_int", inputs(grpcclient, INPUT=np.array(
                [[v]], dtype=np.int32)), sequence_id=4242, sequence_start=i in (0, 2),
                sequence_end=i in (1, 4))
        assert [results.get(timeout=30) for _ in range(5)] == [1, 3, 10, 30, 60]
    finally:
        client.stop_stream()
        client.close()


# -- ensembles -----------------------------------------------------------------------------------

A = np.array([[1.5, -2.0, 3.25, 1e6], [0.0, 7.0, -0.5, 2.0]], dtype=np.float32)
B = np.array([[0.5, 4.0, -1.25, 3.0], [1.0, 1.0, 1.0, -2.0]], dtype=np.float32)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_two_and_three_step_ensembles_with_a_python_step(
        protocol: str, http: httpclient.InferenceServerClient,
        grpc: grpcclient.InferenceServerClient) -> None:
    client, module = (http, httpclient) if protocol == "http" else (grpc, grpcclient)
    two = client.infer("ens2", inputs(module, A=A, B=B))
    np.testing.assert_array_equal(two.as_numpy("SUM"), A + B)
    np.testing.assert_array_equal(two.as_numpy("DIFF"), A - B)
    three = client.infer("ens3", inputs(module, A=A, B=B))
    np.testing.assert_array_equal(three.as_numpy("TWICE_A"), (A + B) + (A - B))
    np.testing.assert_array_equal(three.as_numpy("TWICE_B"), (A + B) - (A - B))
    np.testing.assert_array_equal(three.as_numpy("TWICE_A")[0], [3.0, -4.0, 6.5, 2e6])


def test_ensemble_errors_reach_the_client_and_it_keeps_serving(
        http: httpclient.InferenceServerClient, grpc: grpcclient.InferenceServerClient) -> None:
    err = http_error(lambda: http.infer("ens2", inputs(httpclient, A=A)))
    assert err.status() == "400" and "B" in err.message()
    err = http_error(lambda: grpc.infer("ens3", inputs(grpcclient, A=A, B=B[:1])))
    assert err.status() == "StatusCode.INVALID_ARGUMENT"
    before = stats(http, "ens2")["inference_stats"]["success"]["count"]
    np.testing.assert_array_equal(
        http.infer("ens2", inputs(httpclient, A=A, B=B)).as_numpy("SUM"), A + B)
    assert stats(http, "ens2")["inference_stats"]["success"]["count"] == before + 1
