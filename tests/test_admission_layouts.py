"""Admission checks a frontend's kept layout once per model version: requests decoded from a
layout that passed skip the checks, one that failed is refused every time, and each model
version keeps its own record (the same request JSON may fit one model and not another)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import orjson
import pytest
from google.protobuf import text_format
from tritoncore.errors import ErrorCode, TritonError
from tritoncore.frontends.http import infer_codec
from tritoncore.protocol import model_config_pb2 as mc
from tritoncore.scheduling import admission
from tritoncore.scheduling.admission import Admission

SERVER = SimpleNamespace(system_shm=SimpleNamespace(allowed=True))


def model(name: str, input_name: str, dims: int) -> Admission:
    config = text_format.Parse(
        f'name: "{name}" max_batch_size: 0 '
        f'input {{ name: "{input_name}" data_type: TYPE_FP32 dims: [ {dims} ] }} '
        'output { name: "OUT" data_type: TYPE_FP32 dims: [ 2 ] }', mc.ModelConfig())
    return Admission(config)


def decoded(model_name: str, input_name: str = "IN", count: int = 2) -> infer_codec.DecodedRequest:
    """A binary HTTP request as perf_analyzer sends it (the same JSON every time), decoded
    from the kept layout (the first request with a JSON is parsed, and has no layout)."""
    head = orjson.dumps({"inputs": [{"name": input_name, "datatype": "FP32", "shape": [count],
                                     "parameters": {"binary_data_size": 4 * count}}]})
    body = head + np.arange(count, dtype=np.float32).tobytes()
    loaded = SimpleNamespace(version=1)
    if head not in infer_codec._layouts:
        assert infer_codec.decode(SERVER, loaded, model_name, body, len(head)).request.layout \
            is None
    return infer_codec.decode(SERVER, loaded, model_name, body, len(head))


def test_a_layout_that_passed_is_not_checked_again() -> None:
    checks = model("a", "IN", 2)
    first, second = decoded("a").request, decoded("a").request
    assert first.layout is not None and second.layout is first.layout  # the kept layout
    checks.check(first)
    assert list(checks._passed.values()) == [first.layout]
    second.inputs.clear()  # what no request from this layout can be: skipped, not checked
    checks.check(second)


def test_a_layout_that_failed_is_refused_every_time() -> None:
    checks = model("a", "IN", 2)
    for _ in range(2):
        request = decoded("a", count=3).request
        with pytest.raises(TritonError) as exc:
            checks.check(request)
        assert exc.value.code is ErrorCode.INVALID_ARG
        assert exc.value.message == ("model 'a': input 'IN' has shape [3], the model expects "
                                     "[2] (-1 is any size)")
    assert checks._passed == {}


def test_each_model_version_checks_a_layout_itself() -> None:
    fits, other = model("a", "IN", 2), model("b", "X", 2)
    request = decoded("a").request
    fits.check(request)
    with pytest.raises(TritonError) as exc:
        other.check(decoded("b").request)  # the same JSON, so the same kept layout
    assert exc.value.message == "model 'b' has no input 'IN'; its inputs are X"


def test_a_request_without_a_layout_is_always_checked() -> None:
    checks = model("a", "IN", 2)
    request = decoded("a").request
    request.layout = None
    checks.check(request)
    request.inputs.clear()
    with pytest.raises(TritonError, match="request is missing input"):
        checks.check(request)
    assert checks._passed == {}


def test_the_record_of_passed_layouts_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admission, "_PASSED_LIMIT", 3)
    checks = model("a", "IN", -1)
    layouts = []
    for count in range(1, 6):
        request = decoded("a", count=count).request
        checks.check(request)
        layouts.append(request.layout)
        assert len(checks._passed) <= 3
    assert list(checks._passed.values()) == layouts[3:]
