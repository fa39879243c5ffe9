"""Misbehaves as MODE asks: ok, raise, triton_error, error_response, too_few, not_a_list,
exit (os._exit) or segfault."""
import ctypes
import os

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        mode = pb_utils.get_input_tensor_by_name(requests[0], "MODE").as_numpy()[0].decode()
        ok = pb_utils.InferenceResponse([pb_utils.Tensor("Y", np.array([1.5], np.float32))])
        if mode == "raise":
            raise ValueError("cannot handle this input")
        if mode == "triton_error":
            raise pb_utils.TritonError("input out of range", pb_utils.TritonError.INVALID_ARG)
        if mode == "error_response":
            return [pb_utils.InferenceResponse(error=pb_utils.TritonError(
                "no such item", pb_utils.TritonError.NOT_FOUND))]
        if mode == "too_few":
            return []
        if mode == "not_a_list":
            return 42
        if mode == "exit":
            os._exit(7)
        if mode == "segfault":
            ctypes.string_at(0)
        return [ok for _ in requests]
