"""Stopping a component in a test the way the daemon stops it: by cancelling its task."""

from __future__ import annotations

import asyncio


async def cancel_and_wait(task: asyncio.Task, within: float = 5.0) -> None:
    """Cancel `task`; it must end, cancelled (not returned, not failed), within `within` s (a hang check)."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=within)
    assert task in done, f"{task.get_name()} outlived its cancellation"
    assert task.cancelled(), f"{task.get_name()} did not let the cancellation through: {task!r}"
