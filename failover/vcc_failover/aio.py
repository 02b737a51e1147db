"""Small asyncio helpers shared by the coordination code."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it is done, cancelling again if it swallowed one.

    On Python 3.11 ``asyncio.wait_for`` inside a task can swallow a cancellation that
    arrives together with its result, so a single cancel may not stop a loop.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()
