"""Python backend for tritoncore: Triton model.py files in stub processes (not implemented yet: this distribution registers no backend)."""

__version__ = "0.1.0"
