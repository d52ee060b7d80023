"""The core's timed jobs (`core.every`): a run that raises is logged and counted, and the job goes on."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from pbx_bridge.core import Core


def bare_core() -> Core:
    """The plug board alone: `every` needs none of the boundaries."""
    return Core(cfg=None, engine=None, writer=None, ami=None, agi=None)


async def until(predicate, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_a_timed_job_runs_as_its_named_task_again_and_again_sync_or_async():
    core, ran = bare_core(), []

    async def later() -> None:
        await asyncio.sleep(0)
        ran.append("async")

    core.every("sync-job", 0.01, lambda: ran.append("sync"))
    core.every("async-job", 0.01, later)
    assert {"sync-job", "async-job"} <= set(core.tasks)
    tasks = [asyncio.create_task(core.tasks[name]()) for name in ("sync-job", "async-job")]
    await until(lambda: ran.count("sync") >= 3 and ran.count("async") >= 3)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    health = core.health()["jobs"]
    assert health["sync-job"]["runs"] >= 3 and health["sync-job"]["failures"] == 0


async def test_a_timed_job_waits_its_interval_before_its_first_run():
    core, ran = bare_core(), []
    core.every("slow", 3600, lambda: ran.append(1))
    task = asyncio.create_task(core.tasks["slow"]())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ran == [] and core.health()["jobs"]["slow"]["runs"] == 0


async def test_a_run_that_raises_is_logged_with_its_traceback_counted_and_the_job_goes_on():
    core, runs = bare_core(), []

    def sweep() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise KeyError("a call the tracker lost")

    core.every("call-sweeper", 0.01, sweep)
    with capture_logs() as logs:
        task = asyncio.create_task(core.tasks["call-sweeper"]())
        await until(lambda: len(runs) >= 3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    [line] = [line for line in logs if line["event"] == "timed_job_failed"]
    assert line["job"] == "call-sweeper" and line["log_level"] == "error" and line["exc_info"]
    health = core.health()["jobs"]["call-sweeper"]
    assert health["failures"] == 1 and health["runs"] >= 3 and "a call the tracker lost" in health["last_error"]


async def test_cancelling_a_timed_job_mid_run_ends_it_and_is_not_counted_as_a_failure():
    core, started = bare_core(), asyncio.Event()

    async def long_run() -> None:
        started.set()
        await asyncio.sleep(3600)

    core.every("long", 0.01, long_run)
    task = asyncio.create_task(core.tasks["long"]())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert core.health()["jobs"]["long"]["failures"] == 0


def test_a_timed_job_name_is_refused_twice_like_any_task():
    core = bare_core()
    core.every("call-sweeper", 1, lambda: None)
    with pytest.raises(ValueError, match="added twice"):
        core.every("call-sweeper", 1, lambda: None)
    with pytest.raises(ValueError, match="added twice"):
        core.add_task("call-sweeper", lambda: None)
