"""Custom metrics: a counter of requests, a gauge of the last input, a histogram of inputs."""
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        requests = pb_utils.MetricFamily("custom_requests_total", "Requests seen",
                                         pb_utils.MetricFamily.COUNTER)
        last = pb_utils.MetricFamily("custom_last_input", "Last input value",
                                     pb_utils.MetricFamily.GAUGE)
        self.count = requests.Metric(labels={"model": args["model_name"]})
        self.last = last.Metric(labels={"model": args["model_name"]})
        values = pb_utils.MetricFamily("custom_input_values", "Input values",
                                       pb_utils.MetricFamily.HISTOGRAM)
        self.values = values.Metric(labels={"model": args["model_name"]}, buckets=[5, 1, 2])

    def execute(self, requests):
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "X").as_numpy()
            self.count.increment(1)
            self.last.set(float(x[0]))
            self.values.observe(float(x[0]))
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("Y", x)]))
        return out
