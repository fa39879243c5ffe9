"""The TensorRT plugin can only be discovered here: serving engines needs TensorRT and a GPU
(plugins/tensorrt/tests/test_engine.py runs them where those exist)."""

from tritoncore_sdk.conformance import conformance_tests

globals().update(conformance_tests("tensorrt", checks=("discovery",)))
