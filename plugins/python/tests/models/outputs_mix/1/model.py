"""Several outputs of every kind in one response (fixed-size, BYTES, zero-size, big-endian,
strided) plus USED: the allocations in use in the stub's output arena when execute began
(the server releases each response's outputs before it sends the next request)."""
import json

import numpy as np
import triton_python_backend_utils as pb_utils


def outputs(n, used):
    return [
        pb_utils.Tensor("F32", np.arange(n * 3, dtype=np.float32).reshape(n, 3) / 4),
        pb_utils.Tensor("TEXT", np.array([b"x" * i for i in range(n)], dtype=np.object_)),
        pb_utils.Tensor("EMPTY", np.zeros((0, 4), np.float32)),
        pb_utils.Tensor("BE", np.arange(n, dtype=">i4") - 2),
        pb_utils.Tensor("STRIDED", np.arange(2 * n, dtype=np.float64)[::2]),
        pb_utils.Tensor("USED", np.array([used], np.int64)),
    ]


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.decoupled = pb_utils.using_decoupled_model_transaction_policy(config)

    def execute(self, requests):
        used = len(pb_utils._RUNTIME.outputs.used)  # tritoncore internals: a test's window
        responses = []
        for request in requests:
            n = int(pb_utils.get_input_tensor_by_name(request, "N").as_numpy()[0])
            response = pb_utils.InferenceResponse(outputs(n, used))
            if self.decoupled:
                sender = request.get_response_sender()
                sender.send(response)
                sender.send(response, flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
            else:
                responses.append(response)
        return None if self.decoupled else responses
