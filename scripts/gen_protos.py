"""Regenerate the checked-in ``*_pb2.py`` modules from core/tritoncore/protocol/*.proto.

Every .proto in the folder is compiled with ``core/`` as the proto path, so generated
imports read ``from tritoncore.protocol import model_config_pb2``; ``*_pb2.pyi`` type stubs
are written beside them. gRPC stubs
(``*_pb2_grpc.py``) are generated only for files that declare a ``service``.
Rerunning it on unchanged sources gives byte-identical output.

The generated modules are rewritten to register into ``tritoncore.protocol._pool.POOL`` instead
of protobuf's default pool, so they can be imported next to ``tritonclient``'s own copies of the
same ``inference.*`` messages (see that module for why).

    python scripts/gen_protos.py [--out DIR]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "core"
PROTO_DIR = PROTO_ROOT / "tritoncore" / "protocol"

_SERVICE = re.compile(r"^\s*service\s+\w+\s*\{", re.MULTILINE)
_DEFAULT_POOL = "_descriptor_pool.Default().AddSerializedFile("
_PRIVATE_POOL = "_pool.POOL.AddSerializedFile("
_POOL_IMPORT = "from tritoncore.protocol import _pool\n"
_IMPORT_ANCHOR = "from google.protobuf.internal import builder as _builder\n"


def defines_service(proto: Path) -> bool:
    """True if the file declares a gRPC service (comments are ignored)."""
    text = re.sub(r"//[^\n]*", "", proto.read_text(encoding="utf-8"))
    return bool(_SERVICE.search(text))


def protoc_args(proto: Path, out_dir: Path) -> list[str]:
    """Arguments for one ``grpc_tools.protoc`` run on ``proto``."""
    rel = proto.relative_to(PROTO_ROOT).as_posix()
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",  # type stubs, so mypy checks code using the messages
    ]
    if defines_service(proto):
        args.append(f"--grpc_python_out={out_dir}")
    return [*args, rel]


def use_private_pool(module: Path) -> None:
    """Point a generated ``*_pb2.py`` at tritoncore's own descriptor pool (idempotent)."""
    text = module.read_text(encoding="utf-8")
    if _PRIVATE_POOL in text:
        return
    if _DEFAULT_POOL not in text or _IMPORT_ANCHOR not in text:
        raise RuntimeError(
            f"{module}: generated code has an unexpected layout; update gen_protos.py"
        )
    text = text.replace(_IMPORT_ANCHOR, _IMPORT_ANCHOR + _POOL_IMPORT, 1)
    module.write_text(text.replace(_DEFAULT_POOL, _PRIVATE_POOL, 1), encoding="utf-8")


def generate(out_dir: Path = PROTO_ROOT) -> list[Path]:
    """Compile every .proto under the protocol folder into ``out_dir``; return the protos."""
    protos = sorted(PROTO_DIR.glob("*.proto"))
    out_dir.mkdir(parents=True, exist_ok=True)
    for proto in protos:
        cmd = [sys.executable, "-m", *protoc_args(proto, out_dir)]
        subprocess.run(cmd, check=True, cwd=PROTO_ROOT)
        rel = proto.relative_to(PROTO_ROOT).with_suffix("")
        use_private_pool(out_dir / rel.parent / f"{rel.name}_pb2.py")
    return protos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=PROTO_ROOT,
        help="root to write tritoncore/protocol/*_pb2.py under",
    )
    args = parser.parse_args(argv)
    for proto in generate(args.out):
        print(f"generated {proto.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
