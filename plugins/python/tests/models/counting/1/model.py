"""Custom metrics: a counter of requests and a gauge of the last input."""
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        requests = pb_utils.MetricFamily("custom_requests_total", "Requests seen",
                                         pb_utils.MetricFamily.COUNTER)
        last = pb_utils.MetricFamily("custom_last_input", "Last input value",
                                     pb_utils.MetricFamily.GAUGE)
        self.count = requests.Metric(labels={"model": args["model_name"]})
        self.last = last.Metric(labels={"model": args["model_name"]})

    def execute(self, requests):
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "X").as_numpy()
            self.count.increment(1)
            self.last.set(float(x[0]))
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("Y", x)]))
        return out
