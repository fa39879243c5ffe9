"""ONNX Runtime backend for tritoncore (not implemented yet: this distribution registers no backend)."""

__version__ = "0.1.0"
