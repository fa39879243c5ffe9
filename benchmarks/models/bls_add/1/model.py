"""Forwards each request to add_sub through BLS and answers with its OUTPUT0."""
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            inputs = [pb_utils.get_input_tensor_by_name(request, "INPUT0"),
                      pb_utils.get_input_tensor_by_name(request, "INPUT1")]
            reply = pb_utils.InferenceRequest(model_name="add_sub", inputs=inputs,
                                              requested_output_names=["OUTPUT0"]).exec()
            if reply.has_error():
                raise pb_utils.TritonModelException(reply.error().message())
            responses.append(pb_utils.InferenceResponse(
                [pb_utils.get_output_tensor_by_name(reply, "OUTPUT0")]))
        return responses
