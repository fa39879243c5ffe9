"""The garbage collector's settings for a long-lived process once its start-up is done."""

from __future__ import annotations

import gc


def settle() -> None:
    """What start-up built (modules, configs, plugins, a model and its weights' Python objects)
    never dies: keep it out of every collection, and collect the young generation less often
    (a request leaves few cycles). The server calls this once serving; a stub after the
    model's ``initialize``."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
