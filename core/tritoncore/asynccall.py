"""Call a backend method that may be ``async def`` or a plain blocking function."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any


async def call(fn: Callable[..., Any], *args: Any, executor: Executor | None = None) -> Any:
    """Await a coroutine function on the loop; run a plain one in ``executor``."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    result = await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
    if inspect.isawaitable(result):
        return await result
    return result
