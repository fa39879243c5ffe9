"""Build the example repository's generated models (random weights, git-ignored).

    python scripts/make_example_models.py [REPOSITORY]   # default: examples/model_repository

Writes only what is missing: ``my_resnet/1/model.pt`` (a small TorchScript ResNet) and
``add_sub_onnx/1/model.onnx``. torch and onnx are imported only when something is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESNET = Path("my_resnet/1/model.pt")
ADD_SUB = Path("add_sub_onnx/1/model.onnx")


def build_resnet(target: Path) -> None:
    """A ResNet-18-shaped network (one basic block per stage, narrow widths) for 3x224x224
    inputs and 1000 classes, traced to TorchScript. Seeded, so every machine builds the same."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.down = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                       nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Identity())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(out)) + self.down(x))

    widths = (16, 32, 64, 128)
    layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 7, 2, 3, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = widths[0]
    for i, width in enumerate(widths):
        layers.append(Block(cin, width, 1 if i == 0 else 2))
        cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
    torch.manual_seed(0)
    net = nn.Sequential(*layers).eval()
    target.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        traced = torch.jit.trace(net, torch.zeros(1, 3, 224, 224))
    traced.save(str(target))


def build_add_sub(target: Path) -> None:
    """SUM = A + B, DIFF = A - B on INT32 [batch, 4], written with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper

    shape = ["batch", 4]
    graph = helper.make_graph(
        [helper.make_node("Add", ["A", "B"], ["SUM"]), helper.make_node("Sub", ["A", "B"], ["DIFF"])],
        "add_sub",
        [helper.make_tensor_value_info(n, TensorProto.INT32, shape) for n in ("A", "B")],
        [helper.make_tensor_value_info(n, TensorProto.INT32, shape) for n in ("SUM", "DIFF")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(target))


def main(repository: Path) -> list[Path]:
    """Build whatever is missing under ``repository``; returns what was written."""
    written = []
    for rel, build in ((RESNET, build_resnet), (ADD_SUB, build_add_sub)):
        target = repository / rel
        if not target.exists():
            build(target)
            written.append(target)
    return written


if __name__ == "__main__":
    repo = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples" / "model_repository"
    for path in main(repo):
        print(f"example models: wrote {path.relative_to(repo)}")
