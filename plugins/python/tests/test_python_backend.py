"""The Python backend with real stub processes, driven through the in-process Server API.

Models in ``models/`` are written the way Triton's users write them (``import
triton_python_backend_utils as pb_utils``); each test copies the ones it needs into a fresh
repository and loads them explicitly.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import site
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.options import ServerOptions
from tritoncore.scheduling.request import InferenceRequest
from tritoncore.server import Server
from tritoncore.tensor import Tensor

MODELS = Path(__file__).parent / "models"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "model_repository"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "models"
    path.mkdir()
    return path


def add(repo: Path, *names: str) -> None:
    """Copy test models (or, for add_sub, the example repository's) into ``repo``."""
    for name in names:
        source = MODELS / name if (MODELS / name).is_dir() else EXAMPLES / name
        shutil.copytree(source, repo / name)


@asynccontextmanager
async def serve(repo: Path, *names: str, **options: Any) -> AsyncIterator[Server]:
    add(repo, *names)
    opts: dict[str, Any] = {"model_control_mode": "explicit", "load_models": list(names),
                            "exit_on_error": False, "allow_http": False, "allow_grpc": False,
                            "allow_metrics": False}
    opts.update(options)
    server = Server(ServerOptions(model_repositories=[repo], **opts), gpus=0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def req(model: str, **inputs: Any) -> InferenceRequest:
    tensors = {k: Tensor.from_numpy(k, np.asarray(v) if not isinstance(v, np.ndarray) else v)
               for k, v in inputs.items()}
    return InferenceRequest(model, tensors)


def out(response: Any, name: str) -> np.ndarray:
    return next(t for t in response.outputs if t.name == name).as_numpy()


def stub_children(parent: int | None = None) -> list[int]:
    """PIDs of the live stub processes whose parent is ``parent`` (default: this process)."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        # after the command name, which may hold spaces and parentheses: state, parent, ...
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and b"tritoncore_python.stub" in cmd and state != "Z":
            found.append(int(entry))
    return found


def shm_entries() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("tritoncore_python_")}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_add_sub_exact_and_nothing_left_behind(repo: Path) -> None:
    before = shm_entries()

    async def go() -> None:
        async with serve(repo, "add_sub") as server:
            a = np.array([1.5, 2, 3, 4], np.float32)
            b = np.array([0.5, 1, -1, 10], np.float32)
            for _ in range(3):
                r = await server.infer(req("add_sub", INPUT0=a, INPUT1=b))
                assert out(r, "OUTPUT0").tolist() == [2.0, 3.0, 2.0, 14.0]
                assert out(r, "OUTPUT1").tolist() == [1.0, 1.0, 4.0, -6.0]
            assert len(stub_children()) == 1
            stats = server.statistics("add_sub")["model_stats"][0]["inference_stats"]
            assert stats["success"]["count"] == 3
            wrong = req("add_sub", INPUT0=a, INPUT1=b)
            wrong.requested_outputs = ["NOPE"]
            with pytest.raises(TritonError, match="has no output 'NOPE'; its outputs are "
                                                  "OUTPUT0, OUTPUT1$"):  # the config's order
                await server.infer(wrong)
        assert stub_children() == []

    run(go())
    assert shm_entries() == before


def test_initialize_args_bytes_and_request_fields(repo: Path, caplog: Any) -> None:
    caplog.set_level("INFO")

    async def go() -> None:
        async with serve(repo, "echo_args") as server:
            data = np.array([[b"ab\x00c", b"", b"xyz"]], dtype=np.object_)
            request = req("echo_args", IN=data)
            request.id = "req-7"
            request.parameters = {"p": 5, "s": "x"}
            r = await server.infer(request)
            assert [t.name for t in r.outputs] == ["OUT", "ARGS"]
            assert out(r, "OUT").tolist() == [[b"AB\x00C", b"", b"XYZ"]]
            info = json.loads(out(r, "ARGS")[0, 0])
            assert info == {
                "model_instance_kind": "CPU", "model_instance_device_id": "0",
                "model_instance_name": info["model_instance_name"],
                "model_repository": str(repo / "echo_args"), "model_version": "1",
                "model_name": "echo_args", "max_batch_size": 8, "request_id": "req-7",
                "parameters": {"p": 5, "s": "x"}, "requested": ["ARGS", "OUT"], "flags": 0,
                "correlation_id": 0,
            }  # no outputs named: the model is asked for every output its config declares
            assert info["model_instance_name"] in ("echo_args_0_0", "echo_args_0_1")
            request = req("echo_args", IN=data)
            request.requested_outputs = ["ARGS"]
            r = await server.infer(request)
            assert [t.name for t in r.outputs] == ["ARGS"]
            assert json.loads(out(r, "ARGS")[0, 0])["requested"] == ["ARGS"]
            assert len(stub_children()) == 2  # instance_group count 2: two stubs

    run(go())
    assert "echo_args initialized as echo_args_0_0" in caplog.text
    # Logger.log with a level constant; get_model_dir() is the version directory (Triton's)
    warned = [r for r in caplog.records if "echo_args model dir" in r.getMessage()]
    assert warned and warned[0].levelname == "WARNING"
    assert warned[0].getMessage().endswith(f"echo_args model dir {repo / 'echo_args' / '1'}")


def test_decoupled_repeat_streams_in_order(repo: Path) -> None:
    async def go() -> None:
        async with serve(repo, "repeat") as server:
            got = [r async for r in server.infer_stream(req("repeat", IN=np.array([3], np.int32)))]
            assert [out(r, "OUT").tolist() for r in got[:-1]] == [[0], [1], [2]]
            assert [r.final for r in got] == [False, False, False, True]
            none = [r async for r in server.infer_stream(req("repeat", IN=np.array([0], np.int32)))]
            assert len(none) == 1 and none[0].final and none[0].outputs == []

    run(go())


def test_bls_sync_decoupled_and_errors(repo: Path) -> None:
    async def go() -> None:
        async with serve(repo, "add_sub", "repeat", "bls") as server:
            x = np.array([1, 2, 3, 4], np.float32)
            r = await server.infer(req("bls", INPUT0=x, MODE=np.array([b"add"], np.object_)))
            assert out(r, "OUTPUT0").tolist() == [2, 4, 6, 8]
            r = await server.infer(req("bls", INPUT0=x, MODE=np.array([b"repeat"], np.object_)))
            assert out(r, "OUTPUT0").tolist() == [7, 8, 9, 10]  # x + (0+1+2+3)
            with pytest.raises(TritonError) as info:
                await server.infer(req("bls", INPUT0=x, MODE=np.array([b"missing"], np.object_)))
            assert info.value.code is ErrorCode.NOT_FOUND
            assert "unknown model 'nosuch'" in info.value.message

    run(go())


def test_decoupled_bls_yields_each_response_as_it_arrives(repo: Path, tmp_path: Path) -> None:
    # "handshake" sends its second response only once the caller has seen the first: a
    # caller whose iterator waited for the whole stream would get an error after 10 s
    async def go() -> None:
        async with serve(repo, "handshake", "bls") as server:
            x = np.array([1, 2, 3, 4], np.float32)
            request = req("bls", INPUT0=x, MODE=np.array([b"stream"], np.object_))
            request.parameters = {"flag": str(tmp_path / "seen")}
            r = await server.infer(request)
            assert out(r, "OUTPUT0").tolist() == [4, 5, 6, 7]  # x + 1 + 2

    run(go())


def test_async_execute_with_concurrent_bls(repo: Path) -> None:
    async def go() -> None:
        async with serve(repo, "add_sub", "async_bls") as server:
            x = np.array([1, 2, 3, 4], np.float32)
            r = await server.infer(req("async_bls", INPUT0=x))
            assert out(r, "OUTPUT0").tolist() == [3, 6, 9, 12]   # 2x + x
            assert out(r, "OUTPUT1").tolist() == [2, 4, 6, 8]    # 3x - x

    run(go())


def test_auto_complete_config(repo: Path) -> None:
    async def go() -> None:
        async with serve(repo, "auto_complete") as server:
            config = server.model_config("auto_complete")
            assert config["max_batch_size"] == 4
            assert config["input"][0]["name"] == "X"
            assert config["input"][0]["data_type"] == "TYPE_INT64"
            assert config["output"][0]["dims"] == [2]
            assert "dynamic_batching" in config
            r = await server.infer(req("auto_complete", X=np.array([[1, 2]], np.int64)))
            assert out(r, "Y").tolist() == [[10, 20]]

    run(go())


def test_initialize_failure_makes_the_model_unavailable(repo: Path) -> None:
    async def go() -> None:
        async with serve(repo, "init_fails", "add_sub") as server:
            row = next(r for r in server.repository_index() if r["name"] == "init_fails")
            assert row["state"] == "UNAVAILABLE"
            assert "instance 'init_fails_0'" in row["reason"]
            assert "ValueError: weights file is missing" in row["reason"]
            assert server.model_ready("add_sub")
            assert len(stub_children()) == 1  # the failed stub is gone
            with pytest.raises(TritonError) as info:  # loading it again: Triton's 400
                await server.load_model("init_fails")
            assert info.value.code is ErrorCode.INVALID_ARG
            assert info.value.message.startswith("load failed for model 'init_fails': version 1:")
            assert "ValueError: weights file is missing" in info.value.message

    run(go())


@pytest.mark.parametrize("mode, code, message", [
    ("raise", ErrorCode.INTERNAL, "ValueError: cannot handle this input"),
    ("triton_error", ErrorCode.INVALID_ARG, "input out of range"),
    ("error_response", ErrorCode.NOT_FOUND, "no such item"),
    ("too_few", ErrorCode.INTERNAL, "execute returned 0 response(s) for 1 request(s)"),
    ("not_a_list", ErrorCode.INTERNAL, "execute must return a list of InferenceResponse"),
])
def test_model_errors_reach_the_client(repo: Path, mode: str, code: ErrorCode,
                                       message: str) -> None:
    async def go() -> None:
        async with serve(repo, "faulty") as server:
            with pytest.raises(TritonError) as info:
                await server.infer(req("faulty", MODE=np.array([mode.encode()], np.object_)))
            assert info.value.code is code
            assert message in info.value.message
            ok = await server.infer(req("faulty", MODE=np.array([b"ok"], np.object_)))
            assert out(ok, "Y").tolist() == [1.5]

    run(go())


@pytest.mark.parametrize("mode, how", [("exit", "exited with code 7"),
                                       ("segfault", "was killed by SIGSEGV")])
def test_a_crashing_stub_fails_its_request_and_is_restarted(repo: Path, mode: str,
                                                            how: str) -> None:
    before = shm_entries()

    async def go() -> None:
        async with serve(repo, "faulty") as server:
            first = stub_children()
            with pytest.raises(TritonError) as info:
                await server.infer(req("faulty", MODE=np.array([mode.encode()], np.object_)))
            assert "model 'faulty' instance 'faulty_0'" in info.value.message
            assert how in info.value.message
            ok = await server.infer(req("faulty", MODE=np.array([b"ok"], np.object_)))
            assert out(ok, "Y").tolist() == [1.5]
            assert server.model_ready("faulty")
            now = stub_children()
            assert len(now) == 1 and now != first

    run(go())
    assert stub_children() == []
    assert shm_entries() == before


def test_a_stub_killed_while_idle_is_restarted_by_the_next_request(repo: Path) -> None:
    """No execute was in flight when it died: the next request fails naming the death and
    starts the restart; the one after it is served by a new stub."""

    async def go() -> None:
        async with serve(repo, "add_sub") as server:
            a = np.ones(4, np.float32)
            await server.infer(req("add_sub", INPUT0=a, INPUT1=a))
            (first,) = stub_children()
            os.kill(first, 9)
            instance = server.model("add_sub").runners[0].instance
            while instance.stub.dead is None:  # type: ignore[attr-defined]
                await asyncio.sleep(0.01)
            with pytest.raises(TritonError) as info:
                await server.infer(req("add_sub", INPUT0=a, INPUT1=a))
            assert "was killed by SIGKILL" in info.value.message
            r = await server.infer(req("add_sub", INPUT0=a, INPUT1=a))
            assert out(r, "OUTPUT0").tolist() == [2.0] * 4
            now = stub_children()
            assert len(now) == 1 and now != [first]

    run(go())


def test_arena_grows_for_large_tensors(repo: Path) -> None:
    async def go() -> None:
        add(repo, "add_sub")
        config = repo / "add_sub" / "config.pbtxt"
        config.write_text(config.read_text().replace("dims: [ 4 ]", "dims: [ -1 ]"))
        async with serve(repo, backend_config={"python": {"shm-default-byte-size": "65536",
                                                          "shm-growth-byte-size": "65536"}},
                         load_models=["add_sub"]) as server:
            a = np.arange(1 << 20, dtype=np.float32)  # 4 MiB per input, arena starts at 64 KiB
            r = await server.infer(req("add_sub", INPUT0=a, INPUT1=a))
            assert np.array_equal(out(r, "OUTPUT0"), a * 2)
            assert not out(r, "OUTPUT1").any()

    run(go())


def test_bad_backend_config_is_a_clear_error(repo: Path) -> None:
    async def go() -> None:
        async with serve(repo, "add_sub", backend_config={
                "python": {"shm-default-byte-size": "lots"}}) as server:
            reason = server.repository_index()[0]["reason"]
            assert "shm-default-byte-size: expected an integer, got 'lots'" in reason

    run(go())


def test_execution_env_path(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare-env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    add(repo, "add_sub")
    with_numpy = repo / "add_sub" / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(with_numpy)], check=True)
    # numpy from this test's own environment (a .pth file; the base interpreter's
    # site-packages, which --system-site-packages would add, need not have it)
    lib = with_numpy / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (lib / "site-packages" / "outer.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    shutil.copytree(repo / "add_sub", repo / "add_sub_bare")
    for name, env in (("add_sub", "$$TRITON_MODEL_DIRECTORY/env"), ("add_sub_bare", str(bare))):
        config = repo / name / "config.pbtxt"
        config.write_text(config.read_text().replace('"add_sub"', f'"{name}"') +
                          f'parameters {{ key: "EXECUTION_ENV_PATH" value {{ string_value: "{env}" }} }}\n')

    async def go() -> None:
        async with serve(repo, load_models=["add_sub", "add_sub_bare"]) as server:
            a = np.ones(4, np.float32)
            r = await server.infer(req("add_sub", INPUT0=a, INPUT1=a))
            assert out(r, "OUTPUT0").tolist() == [2, 2, 2, 2]
            row = next(r for r in server.repository_index() if r["name"] == "add_sub_bare")
            assert row["state"] == "UNAVAILABLE"
            assert "cannot import numpy" in row["reason"]
            assert str(bare) in row["reason"]

    run(go())


def test_inputs_in_client_shm_reach_the_stub_without_a_copy(repo: Path) -> None:
    from tritoncore.frontends.shm_io import ShmRef, input_from_shm

    key = f"/tc_test_{os.getpid()}"
    fd = os.open(f"/dev/shm{key}", os.O_CREAT | os.O_RDWR, 0o600)
    os.ftruncate(fd, 64)
    os.pwrite(fd, np.array([1, 2, 3, 4, 10, 20, 30, 40], np.float32).tobytes(), 16)
    os.close(fd)

    async def go() -> None:
        async with serve(repo, "add_sub", allow_client_shm=True) as server:
            server.system_shm.register("r", key, 16, 48)
            a = input_from_shm(server, "INPUT0", "FP32", (4,), ShmRef("r", 0, 16))
            b = input_from_shm(server, "INPUT1", "FP32", (4,), ShmRef("r", 16, 16))
            r = await server.infer(InferenceRequest("add_sub", {"INPUT0": a, "INPUT1": b}))
            assert out(r, "OUTPUT0").tolist() == [11, 22, 33, 44]
            instance = server.model("add_sub").runners[0].instance
            assert instance.copied_in == 0
            r = await server.infer(req("add_sub", INPUT0=np.ones(4, np.float32),
                                       INPUT1=np.ones(4, np.float32)))
            assert instance.copied_in == 32
            server.system_shm.unregister("r")

    try:
        run(go())
    finally:
        os.unlink(f"/dev/shm{key}")


def test_a_stub_that_cannot_read_an_input_fails_that_request_only(repo: Path) -> None:
    """The client's shm object is gone before the stub maps it: the stub cannot run the
    execute at all (not the model's error), the request gets the stub's error, and the next
    request is served."""
    from tritoncore.frontends.shm_io import ShmRef, input_from_shm

    key = f"/tc_gone_{os.getpid()}"
    fd = os.open(f"/dev/shm{key}", os.O_CREAT | os.O_RDWR, 0o600)
    os.ftruncate(fd, 64)
    os.close(fd)

    async def go() -> None:
        async with serve(repo, "add_sub", allow_client_shm=True) as server:
            server.system_shm.register("r", key, 0, 64)  # the server keeps its own mapping
            os.unlink(f"/dev/shm{key}")
            a = input_from_shm(server, "INPUT0", "FP32", (4,), ShmRef("r", 0, 16))
            b = input_from_shm(server, "INPUT1", "FP32", (4,), ShmRef("r", 16, 16))
            with pytest.raises(TritonError) as info:
                await server.infer(InferenceRequest("add_sub", {"INPUT0": a, "INPUT1": b}))
            assert info.value.code is ErrorCode.INTERNAL
            assert info.value.message == (
                "model 'add_sub' instance 'add_sub_0_0': FileNotFoundError: [Errno 2] No such "
                f"file or directory: '/dev/shm{key}'")
            r = await server.infer(req("add_sub", INPUT0=np.ones(4, np.float32),
                                       INPUT1=np.ones(4, np.float32)))
            assert out(r, "OUTPUT0").tolist() == [2, 2, 2, 2]
            server.system_shm.unregister("r")

    run(go())


def test_cancellation_reaches_the_model(repo: Path, caplog: Any) -> None:
    caplog.set_level("INFO")

    async def go() -> None:
        async with serve(repo, "ticker") as server:
            stream = server.infer_stream(req("ticker", IN=np.array([0], np.int32)))
            got = [await stream.__anext__() for _ in range(3)]
            assert [out(r, "OUT").tolist() for r in got] == [[0], [1], [2]]
            await stream.aclose()  # the client goes away: the request is cancelled
            for _ in range(100):
                if "ticker: cancelled after" in caplog.text:
                    break
                await asyncio.sleep(0.02)

    run(go())
    assert "ticker: cancelled after" in caplog.text


def test_custom_metrics_appear_on_the_metrics_page(repo: Path) -> None:
    from tritoncore.frontends.metrics import render

    async def go() -> None:
        async with serve(repo, "counting") as server:
            for value in (1.0, 2.5):
                await server.infer(req("counting", X=np.array([value], np.float32)))
            await asyncio.sleep(0.05)  # metric updates travel on the control channel
            text = render(server, None)
            assert "# TYPE custom_requests_total counter" in text
            assert 'custom_requests_total{model="counting"} 2' in text
            assert "# TYPE custom_last_input gauge" in text
            assert 'custom_last_input{model="counting"} 2.5' in text
            start = text.index("# HELP custom_input_values")
            assert text[start:].splitlines()[:8] == [
                "# HELP custom_input_values Input values",
                "# TYPE custom_input_values histogram",
                'custom_input_values_bucket{model="counting",le="1"} 1',
                'custom_input_values_bucket{model="counting",le="2"} 1',
                'custom_input_values_bucket{model="counting",le="5"} 2',
                'custom_input_values_bucket{model="counting",le="+Inf"} 2',
                'custom_input_values_sum{model="counting"} 3.5',
                'custom_input_values_count{model="counting"} 2']

    run(go())
