"""Which config tensor goes to which forward argument, and which result is which output.

Triton's PyTorch conventions:

* an input whose name is an argument of ``forward`` binds to that argument;
* otherwise a name ``<anything>__<index>`` binds to argument ``index`` (``INPUT__0``);
* a ``forward`` whose only argument is ``Dict[str, Tensor]`` receives every input by name;
* outputs: a dict result is read by output name; a tuple/list (or a single tensor) by the
  ``__<index>`` suffix of the output name, else by the output's position in the config.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

import torch
from tritoncore.errors import internal, invalid_arg

_INDEXED = re.compile(r"^.*__(\d+)$")


@dataclass(frozen=True)
class Argument:
    """One argument of ``forward`` (``self`` excluded)."""

    name: str
    required: bool
    is_dict: bool = False


def forward_arguments(module: Any) -> list[Argument] | None:
    """The arguments of ``module.forward``; None when they cannot be known (``*args``)."""
    schema = getattr(getattr(module, "forward", None), "schema", None)
    if schema is not None:  # TorchScript
        return [
            Argument(_strip_suffix(a.name), not a.has_default_value(),
                     str(a.type).startswith("Dict[str, Tensor]"))
            for a in schema.arguments[1:]
        ]
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return None
    args = []
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            return None
        annotation = str(p.annotation)
        args.append(Argument(p.name, p.default is p.empty,
                             annotation.startswith(("dict[str", "Dict[str", "typing.Dict[str"))))
    return args


def _strip_suffix(name: str) -> str:
    # TorchScript renames arguments it re-binds ("x.1"); the user wrote "x".
    return name.split(".", 1)[0]


@dataclass(frozen=True)
class Binding:
    """How requests become ``forward`` arguments and results become outputs."""

    model: str
    positions: tuple[tuple[str, int], ...]  # (input name, argument index), by index
    arg_count: int
    dict_input: bool
    outputs: tuple[tuple[str, int], ...]  # (output name, index in a tuple/list result)

    @classmethod
    def build(cls, model: str, inputs: list[str], outputs: list[str],
              args: list[Argument] | None) -> Binding:
        """Resolve the conventions; INVALID_ARG saying what to rename when they fail."""
        if args is not None and len(args) == 1 and args[0].is_dict:
            return cls(model, (), 1, True, _output_indices(outputs))
        names = {a.name: i for i, a in enumerate(args or [])}
        positions: dict[str, int] = {}
        for name in inputs:
            if name in names:
                positions[name] = names[name]
                continue
            match = _INDEXED.match(name)
            if match:
                positions[name] = int(match.group(1))
            elif args is None:
                positions[name] = inputs.index(name)  # forward(*args): config order
            else:
                raise invalid_arg(
                    f"model '{model}': input '{name}' is not an argument of forward("
                    f"{', '.join(a.name for a in args)}) and does not end in __<index>; rename "
                    "it to an argument name or to e.g. INPUT__0"
                )
        by_index: dict[int, str] = {}
        for name, index in positions.items():
            if index in by_index:
                raise invalid_arg(
                    f"model '{model}': inputs '{by_index[index]}' and '{name}' both bind to "
                    f"argument {index} of forward"
                )
            by_index[index] = name
        arg_count = max(by_index, default=-1) + 1
        if args is not None:
            if arg_count > len(args):
                raise invalid_arg(
                    f"model '{model}': input '{by_index[arg_count - 1]}' binds to argument "
                    f"{arg_count - 1}, but forward takes {len(args)} "
                    f"({', '.join(a.name for a in args)})"
                )
            missing = [a.name for i, a in enumerate(args) if a.required and i not in by_index]
            if missing:
                raise invalid_arg(
                    f"model '{model}': forward needs argument(s) {', '.join(missing)}, which no "
                    "config input binds to; add inputs with those names (or __<index> names)"
                )
        return cls(model, tuple(sorted(positions.items(), key=lambda kv: kv[1])), arg_count,
                   False, _output_indices(outputs))

    def arguments(self, values: dict[str, torch.Tensor]) -> tuple[list[Any], dict[str, Any]]:
        """Positional arguments (None for an absent optional input) or the one dict."""
        if self.dict_input:
            return [values], {}
        args: list[Any] = [None] * self.arg_count
        for name, index in self.positions:
            args[index] = values.get(name)
        while args and args[-1] is None:  # trailing absent optionals take their defaults
            args.pop()
        return args, {}

    def results(self, result: Any, wanted: list[str]) -> dict[str, torch.Tensor]:
        """The tensors of the ``wanted`` outputs, from whatever ``forward`` returned."""
        if isinstance(result, dict):
            missing = [n for n in wanted if n not in result]
            if missing:
                raise internal(
                    f"model '{self.model}': forward returned a dict with keys "
                    f"{sorted(result)}, without output(s) {', '.join(missing)}"
                )
            found = {n: result[n] for n in wanted}
        else:
            items = list(result) if isinstance(result, (tuple, list)) else [result]
            index = dict(self.outputs)
            found = {}
            for name in wanted:
                i = index[name]
                if i >= len(items):
                    raise internal(
                        f"model '{self.model}': output '{name}' is result {i} of forward, "
                        f"but forward returned {len(items)} value(s)"
                    )
                found[name] = items[i]
        for name, value in found.items():
            if not isinstance(value, torch.Tensor):
                raise internal(
                    f"model '{self.model}': output '{name}' is a {type(value).__name__}, not a "
                    "tensor"
                )
        return found


def _output_indices(outputs: list[str]) -> tuple[tuple[str, int], ...]:
    indexed = [_INDEXED.match(n) for n in outputs]
    if all(indexed):
        return tuple((n, int(m.group(1))) for n, m in zip(outputs, indexed) if m)
    return tuple((n, i) for i, n in enumerate(outputs))
