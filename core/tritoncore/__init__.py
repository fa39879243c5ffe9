"""tritoncore: a Triton-compatible inference server built as a plugin framework."""

__version__ = "0.1.0"
