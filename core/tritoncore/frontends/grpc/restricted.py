"""Triton's restricted gRPC protocols: API groups that answer only callers sending a header.

``--grpc-restricted-protocol=<group>[,<group>...]:<key>=<value>`` (repeatable; alias
``--grpc-restricted-api``) makes the RPCs of each group demand the metadata entry
``triton-grpc-protocol-<key>: <value>``; others get UNAVAILABLE, as Triton answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from tritoncore.errors import invalid_arg

HEADER_PREFIX = "triton-grpc-protocol-"

#: group -> the RPCs it covers (Triton's groups).
GROUPS: dict[str, tuple[str, ...]] = {
    "health": ("ServerLive", "ServerReady", "ModelReady", "Check", "Watch"),
    "metadata": ("ServerMetadata", "ModelMetadata"),
    "inference": ("ModelInfer", "ModelStreamInfer"),
    "shared-memory": ("SystemSharedMemoryStatus", "SystemSharedMemoryRegister",
                      "SystemSharedMemoryUnregister", "CudaSharedMemoryStatus",
                      "CudaSharedMemoryRegister", "CudaSharedMemoryUnregister"),
    "model-config": ("ModelConfig",),
    "model-repository": ("RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload"),
    "statistics": ("ModelStatistics",),
    "trace": ("TraceSetting",),
    "logging": ("LogSettings",),
}


@dataclass(frozen=True)
class Restriction:
    """The metadata entry an RPC needs."""

    header: str
    value: str

    def message(self) -> str:
        return f"This protocol is restricted, expecting header '{self.header}'"


def parse(specs: list[str]) -> dict[str, Restriction]:
    """``["inference,model-config:key=value"]`` -> {rpc name: Restriction}."""
    rules: dict[str, Restriction] = {}
    for spec in specs:
        groups, sep, pair = spec.rpartition(":")
        key, eq, value = pair.partition("=")
        if not sep or not eq or not key or not groups:
            raise invalid_arg(
                f"restricted protocol '{spec}': expected <group>[,<group>...]:<key>=<value>")
        rule = Restriction(HEADER_PREFIX + key.lower(), value)
        for group in (g.strip() for g in groups.split(",")):
            if group not in GROUPS:
                raise invalid_arg(
                    f"restricted protocol '{spec}': unknown group '{group}'; groups are "
                    f"{', '.join(GROUPS)}")
            for rpc in GROUPS[group]:
                if rpc in rules and rules[rpc] != rule:
                    raise invalid_arg(
                        f"restricted protocol '{spec}': group '{group}' is already restricted "
                        "by another key")
                rules[rpc] = rule
    return rules


def allowed(rule: Restriction, metadata: object) -> bool:
    """Whether the call's invocation metadata carries the rule's header and value."""
    for key, value in metadata or ():  # type: ignore[attr-defined]
        if key == rule.header and value == rule.value:
            return True
    return False
