"""CappedThreads: slow work off the loop, a few threads at a time, a slot held until its thread ends."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pbx_bridge.threads import Busy, CappedThreads


async def test_a_request_beyond_the_waiting_cap_is_refused_at_once_and_an_abandoned_one_keeps_its_slot():
    release = threading.Event()
    threads = CappedThreads("t", concurrent=1, waiting_max=1)
    first = asyncio.create_task(threads.run(release.wait, 10))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(threads.run(lambda: "second"))
    await asyncio.sleep(0.05)
    with pytest.raises(Busy):
        await threads.run(lambda: "third")
    assert threads.refused_busy == 1
    first.cancel()  # the asker went away: its thread still runs and holds the one slot
    await asyncio.sleep(0.05)
    assert threads.running == 1 and not second.done()
    release.set()
    assert await asyncio.wait_for(second, 5) == "second"
    assert threads.running == 0 and threads.waiting == 0


async def test_a_failing_thread_is_told_to_on_error_and_raised_to_its_asker():
    told = []
    threads = CappedThreads("t", concurrent=2, on_error=told.append)

    def boom():
        raise ValueError("bad")

    with pytest.raises(ValueError):
        await threads.run(boom)
    assert [type(e) for e in told] == [ValueError]
