"""BLS: MODE "add" asks add_sub for INPUT0 + INPUT0; "repeat" sums a decoupled model's stream;
"missing" calls a model that does not exist and returns the error it got; "stream" adds what
the decoupled "handshake" model streams (1, then 2 only once this model has seen the 1)."""
import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            mode = pb_utils.get_input_tensor_by_name(request, "MODE").as_numpy()[0].decode()
            responses.append(getattr(self, mode)(x, request))
        return responses

    def add(self, x, request):
        inputs = [pb_utils.Tensor("INPUT0", x), pb_utils.Tensor("INPUT1", x)]
        reply = pb_utils.InferenceRequest(model_name="add_sub", inputs=inputs,
                                          requested_output_names=["OUTPUT0"]).exec()
        if reply.has_error():
            raise pb_utils.TritonModelException(reply.error().message())
        out = pb_utils.get_output_tensor_by_name(reply, "OUTPUT0").as_numpy()
        out *= 1  # writeable, as Triton's BLS outputs are
        return pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", out)])

    def repeat(self, x, request):
        request = pb_utils.InferenceRequest(
            model_name="repeat", inputs=[pb_utils.Tensor("IN", np.array([4], np.int32))],
            requested_output_names=["OUT"])
        values = [int(pb_utils.get_output_tensor_by_name(r, "OUT").as_numpy()[0])
                  for r in request.exec(decoupled=True) if r.output_tensors()]
        return pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", x + sum(values))])

    def missing(self, x, request):
        reply = pb_utils.InferenceRequest(model_name="nosuch", inputs=[],
                                          requested_output_names=["X"]).exec()
        return pb_utils.InferenceResponse(error=reply.error())

    def stream(self, x, request):
        flag = json.loads(request.parameters())["flag"]
        call = pb_utils.InferenceRequest(
            model_name="handshake", inputs=[pb_utils.Tensor("IN", np.array([0], np.int32))],
            requested_output_names=["OUT"], parameters={"flag": flag})
        total = 0
        replies = []
        for reply in call.exec(decoupled=True):
            if reply.has_error():
                raise pb_utils.TritonModelException(reply.error().message())
            replies.append(reply)
            for tensor in reply.output_tensors():
                total += int(tensor.as_numpy()[0])
                open(flag, "w").close()  # the handshake's signal
        if len(replies) != 3 or replies[-1].output_tensors():  # the final flag came alone
            raise pb_utils.TritonModelException(f"{len(replies)} replies, the last not empty")
        return pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", x + total)])
