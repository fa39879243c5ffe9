"""TensorRT backend for tritoncore (TensorRT 10+ Python API; untested on real engines here)."""

__version__ = "0.1.0"
