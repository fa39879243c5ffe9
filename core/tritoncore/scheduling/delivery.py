"""A one-response request's final response, handed to its frontend on the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from tritoncore.scheduling.request import InferenceResponse

Answer = Callable[[InferenceResponse], None]


def final_on_loop(loop: asyncio.AbstractEventLoop, loop_thread: int,
                  answer: Answer) -> Answer:
    """A ``ResponseSender`` callback that passes the final response (or an error) to
    ``answer`` on ``loop`` (whose thread is ``loop_thread``), from whichever thread sends it;
    a response that is neither is dropped."""

    def deliver(response: InferenceResponse) -> None:
        if response.final or response.error is not None:
            if threading.get_ident() == loop_thread:
                answer(response)
            else:
                loop.call_soon_threadsafe(answer, response)

    return deliver
