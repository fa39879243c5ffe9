"""BYTES in, BYTES out (upper-cased), plus the initialize args and request fields as JSON."""
import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.args = {k: v for k, v in args.items() if k != "model_config"}
        self.args["max_batch_size"] = json.loads(args["model_config"])["max_batch_size"]
        pb_utils.Logger.log_info(f"echo_args initialized as {args['model_instance_name']}")
        logger = pb_utils.Logger
        logger.log(f"echo_args model dir {pb_utils.get_model_dir()}", logger.WARNING)

    def execute(self, requests):
        responses = []
        for request in requests:
            data = pb_utils.get_input_tensor_by_name(request, "IN").as_numpy()
            upper = np.array([v.upper() for v in data.reshape(-1)], dtype=np.object_)
            info = dict(self.args, request_id=request.request_id(),
                        parameters=json.loads(request.parameters()),
                        requested=sorted(request.requested_output_names()),
                        flags=request.flags(), correlation_id=request.correlation_id())
            args = np.array([[json.dumps(info).encode()]] * data.shape[0], dtype=np.object_)
            responses.append(pb_utils.InferenceResponse([
                pb_utils.Tensor("OUT", upper.reshape(data.shape)), pb_utils.Tensor("ARGS", args),
                # not in the config: dropped, as Triton's stub drops it
                pb_utils.Tensor("UNDECLARED", np.zeros(1, np.int32))]))
        return responses
