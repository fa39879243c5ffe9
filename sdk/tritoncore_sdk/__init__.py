"""Backend-author helpers and the conformance test kit for tritoncore (skeleton: nothing here yet)."""

__version__ = "0.1.0"
