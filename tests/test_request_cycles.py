"""A finished request leaves no reference cycle behind: its objects are freed as soon as the
response is out, not by the garbage collector (whose passes over tens of thousands of dead
requests cost the server ~20 µs per request)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

import orjson
import pytest
import testing_backend
from conftest import run, write_model
from serverproc import free_port
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.options import ServerOptions
from tritoncore.plugins import PluginManager
from tritoncore.scheduling.request import InferenceResponse, ResponseSender
from tritoncore.server import Server


class Holder:
    """Stands for what a frontend's delivery callback reaches: the request, the connection."""

    sender: ResponseSender


def close(how: str) -> weakref.ref[Holder]:
    holder = Holder()
    got: list[InferenceResponse] = []
    holder.sender = ResponseSender(lambda r: got.append(r) or holder)  # the usual cycle
    if how == "send":
        holder.sender.send(InferenceResponse(), final=False)
        holder.sender.send(InferenceResponse(), final=True)
        assert [r.final for r in got] == [False, True]
    else:
        holder.sender.fail(TritonError(ErrorCode.INTERNAL, "boom"))
        assert [(r.final, r.error.message if r.error else None) for r in got] == [(True, "boom")]
    with pytest.raises(TritonError, match="after the request's final response"):
        holder.sender.send(InferenceResponse(), final=True)
    return weakref.ref(holder)


@pytest.mark.parametrize("how", ["send", "fail"])
def test_a_closed_sender_lets_go_of_its_callback(how: str) -> None:
    gc.disable()
    try:
        assert close(how)() is None  # freed by reference counting alone
    finally:
        gc.enable()


def _http_infer(values: list[float]) -> bytes:
    body = orjson.dumps({"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 2],
                                     "data": values}]})
    head = (f"POST /v2/models/double/infer HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


def test_http_requests_leave_nothing_to_the_collector(repo: Path) -> None:
    write_model(repo, "double")
    port = free_port()

    async def go() -> None:
        plugins = PluginManager()
        plugins.register(testing_backend, name="testing")
        server = Server(ServerOptions(model_repositories=[repo], allow_grpc=False,
                                      allow_metrics=False, http_address="127.0.0.1",
                                      http_port=port), plugins, gpus=0)
        await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            gc.collect()
            gc.disable()
            gc.set_debug(gc.DEBUG_SAVEALL)
            for i in range(20):
                writer.write(_http_infer([float(i), 1.0]))
                status = await reader.readline()
                assert status.startswith(b"HTTP/1.1 200"), status
                length = 0
                while (line := await reader.readline()) != b"\r\n":
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                doc = orjson.loads(await reader.readexactly(length))
                assert doc["outputs"][0]["data"] == [2.0 * i, 2.0]
            await asyncio.sleep(0)
            gc.collect()
            kinds = {type(o).__name__ for o in gc.garbage}
            assert not kinds & {"InferenceRequest", "ResponseSender", "Tensor",
                                "Exchange", "DecodedRequest"}, sorted(kinds)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
            writer.close()
            await server.stop()

    run(go)
