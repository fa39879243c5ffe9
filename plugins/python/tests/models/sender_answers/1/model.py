"""Not decoupled, yet answers through the response sender: Y = 3 * X, sent with the final
flag, and execute returns None. A request whose X starts negative gets no response at all.
Triton 2.51 answers the first kind the same way and never answers the second (checked
2026-12-08 with ../shared/peer-triton); tritoncore answers it with an error."""

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "X").as_numpy()
            if x[0] < 0:
                continue
            sender = request.get_response_sender()
            sender.send(pb_utils.InferenceResponse([pb_utils.Tensor("Y", x * 3)]),
                        flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        return None
