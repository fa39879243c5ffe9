"""``--http-restricted-api`` / ``--grpc-restricted-api``: API groups that need a header.

The flag's value is ``<group>[,<group>...]:<key>=<value>`` (current tritonserver); a request to
an API in a restricted group must carry header (HTTP) or metadata (gRPC) ``<key>: <value>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tritoncore.errors import invalid_arg

GROUPS = ("health", "metadata", "inference", "shared-memory", "model-config",
          "model-repository", "statistics", "trace", "logging")


@dataclass(frozen=True)
class Restriction:
    """The header a group needs; ``key`` is lower-cased (header names are case-insensitive)."""

    key: str
    value: str


def parse_restrictions(specs: list[str]) -> dict[str, Restriction]:
    """``["model-repository,logging:admin-key=secret"]`` -> {group: Restriction}.

    INVALID_ARG names the problem (unknown group, missing ``:key=value``, a group given twice).
    """
    out: dict[str, Restriction] = {}
    for spec in specs:
        groups, sep, header = spec.partition(":")
        key, eq, value = header.partition("=")
        if not sep or not eq or not key.strip() or not groups.strip():
            raise invalid_arg(f"restricted API '{spec}': expected <api>[,<api>...]:<key>=<value>")
        for group in (g.strip() for g in groups.split(",")):
            if group not in GROUPS:
                raise invalid_arg(f"restricted API '{spec}': unknown API '{group}'; "
                                  f"expected one of {', '.join(GROUPS)}")
            if group in out:
                raise invalid_arg(f"restricted API '{group}' is given more than once")
            out[group] = Restriction(key.strip().lower(), value)
    return out


def denied_message(restriction: Restriction) -> str:
    return (f"This API is restricted, expecting header '{restriction.key}' "
            "with the configured value")
