"""A Triton-style stateful Python model: OUTPUT is the running sum of INPUT per sequence.

The state lives in the model, keyed by the CORRID control input; START resets it and END
drops it, as the sequence batcher's control inputs say. Runs unmodified on Triton.
"""

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.totals = {}

    def execute(self, requests):
        responses = []
        for request in requests:
            value = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            start = pb_utils.get_input_tensor_by_name(request, "START").as_numpy()
            end = pb_utils.get_input_tensor_by_name(request, "END").as_numpy()
            corrid = pb_utils.get_input_tensor_by_name(request, "CORRID").as_numpy()
            key = corrid.reshape(-1)[0]
            key = key.decode() if isinstance(key, bytes) else int(key)
            if start.reshape(-1)[0]:
                self.totals[key] = 0
            if key not in self.totals:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(
                    f"sequence {key!r} has no state: it never started")))
                continue
            self.totals[key] += int(value.reshape(-1)[0])
            out = np.full_like(value, self.totals[key])
            if end.reshape(-1)[0]:
                del self.totals[key]
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor("OUTPUT", out)]))
        return responses
