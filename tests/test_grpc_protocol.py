"""Our .proto files are wire-compatible with Triton's: every service, RPC, message and field
matches the copy tritonclient ships (names, numbers, types, cardinality, nesting)."""

from __future__ import annotations

from typing import Any

import pytest
from tritonclient.grpc import service_pb2 as theirs
from tritoncore.protocol import grpc_service_pb2 as ours
from tritoncore.protocol import health_pb2


def field_sig(f: Any) -> tuple[Any, ...]:
    target = f.message_type or f.enum_type
    return (f.name, f.number, f.type, f.is_repeated,
            target.full_name if target else None,
            f.containing_oneof.name if f.containing_oneof else None)


def message_sig(m: Any) -> dict[str, Any]:
    return {
        "fields": sorted(field_sig(f) for f in m.fields),
        "nested": {n.name: message_sig(n) for n in m.nested_types},
        "enums": {e.name: [(v.name, v.number) for v in e.values] for e in m.enum_types},
    }


def test_every_triton_message_is_defined_identically() -> None:
    their_messages = theirs.DESCRIPTOR.message_types_by_name
    our_messages = ours.DESCRIPTOR.message_types_by_name
    assert sorted(our_messages) == sorted(their_messages)
    for name, message in their_messages.items():
        assert message_sig(our_messages[name]) == message_sig(message), name


def test_service_has_triton_rpcs_with_the_same_streaming() -> None:
    def rpcs(fd: Any) -> dict[str, tuple[str, str, bool, bool]]:
        service = fd.services_by_name["GRPCInferenceService"]
        return {m.name: (m.input_type.full_name, m.output_type.full_name,
                         m.client_streaming, m.server_streaming) for m in service.methods}

    assert ours.DESCRIPTOR.package == theirs.DESCRIPTOR.package == "inference"
    assert rpcs(ours.DESCRIPTOR) == rpcs(theirs.DESCRIPTOR)


def wire_sig(m: Any) -> dict[str, Any]:
    """Numbers and types only: what decides whether bytes mean the same."""
    return {"fields": sorted((f.number, f.type, f.is_repeated) for f in m.fields),
            "nested": {n.name: wire_sig(n) for n in m.nested_types}}


def test_model_config_messages_are_wire_compatible_with_triton() -> None:
    """ModelConfigResponse embeds ModelConfig, so its bytes must mean the same to clients.

    (Field names are the config owner's to check; see tests of model_config.proto.)
    """
    from tritonclient.grpc import model_config_pb2 as their_mc
    from tritoncore.protocol import model_config_pb2 as our_mc

    for name, message in their_mc.DESCRIPTOR.message_types_by_name.items():
        assert wire_sig(our_mc.DESCRIPTOR.message_types_by_name[name]) == \
            wire_sig(message), name


@pytest.mark.parametrize("status, number", [("UNKNOWN", 0), ("SERVING", 1),
                                            ("NOT_SERVING", 2), ("SERVICE_UNKNOWN", 3)])
def test_health_protocol_numbers(status: str, number: int) -> None:
    assert health_pb2.DESCRIPTOR.package == "grpc.health.v1"
    assert health_pb2.HealthCheckResponse.ServingStatus.Value(status) == number
    service = health_pb2.DESCRIPTOR.services_by_name["Health"]
    assert [m.name for m in service.methods] == ["Check", "Watch"]
    assert health_pb2.HealthCheckRequest.DESCRIPTOR.fields_by_name["service"].number == 1


def test_bytes_round_trip_between_our_messages_and_tritonclients() -> None:
    request = theirs.ModelInferRequest(model_name="m", model_version="2", id="x")
    request.parameters["sequence_id"].uint64_param = 7
    tensor = request.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 2])
    tensor.parameters["shared_memory_region"].string_param = "r"
    request.raw_input_contents.append(b"\x00" * 8)
    mine = ours.ModelInferRequest.FromString(request.SerializeToString())
    assert mine.inputs[0].parameters["shared_memory_region"].string_param == "r"
    assert theirs.ModelInferRequest.FromString(mine.SerializeToString()) == request
