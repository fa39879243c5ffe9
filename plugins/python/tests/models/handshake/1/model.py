"""Decoupled: sends OUT = 1, then OUT = 2 once the file named by parameter "flag" exists (the
caller creates it when it has seen the 1), or an error if that takes over 10 s: a caller
that only gets the responses once the stream has ended never sees the 2."""
import json
import os
import threading
import time

import numpy as np
import triton_python_backend_utils as pb_utils


def out(value):
    return pb_utils.InferenceResponse([pb_utils.Tensor("OUT", np.array([value], np.int32))])


class TritonPythonModel:
    def execute(self, requests):
        for request in requests:
            threading.Thread(target=self.run, args=(request,), daemon=True).start()
        # a decoupled model answers through its senders: nothing returned

    def run(self, request):
        flag = json.loads(request.parameters())["flag"]
        sender = request.get_response_sender()
        sender.send(out(1))
        deadline = time.monotonic() + 10
        while not os.path.exists(flag) and time.monotonic() < deadline:
            time.sleep(0.01)
        if os.path.exists(flag):
            sender.send(out(2))
        else:
            sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(
                "the caller had not seen the first response after 10 s")))
        sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
