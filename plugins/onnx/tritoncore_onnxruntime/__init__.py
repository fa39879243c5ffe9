"""tritoncore-onnxruntime: serves ONNX models with ONNX Runtime.

Importing this package does not import onnxruntime; the entry point module
(``tritoncore_onnxruntime.plugin``) does, when the first model that needs it loads.
"""

__version__ = "0.1.0"
