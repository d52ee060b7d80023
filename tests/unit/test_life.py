"""The daemon's tasks: a failure is logged the moment it happens and ends the group; so does a return."""

import asyncio

import pytest
from structlog.testing import capture_logs

from pbx_bridge.life import Life, TaskEnded, describe, first_failure


async def forever(seen: list, name: str) -> None:
    try:
        await asyncio.sleep(3600)
    finally:
        seen.append(name)


async def test_a_failing_task_is_logged_at_once_and_its_siblings_are_cancelled():
    life, cleaned = Life(), []
    logged_before_siblings_ended = []

    async def slow_cleanup() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            logged_before_siblings_ended.append(list(logs))  # the failure is in the log already
            raise

    async def broken() -> None:
        await asyncio.sleep(0.01)
        raise OSError(98, "address already in use")

    with capture_logs() as logs, pytest.raises(BaseExceptionGroup) as caught:
        async with asyncio.TaskGroup() as group:
            life.start(group, "ami", forever(cleaned, "ami"))
            life.start(group, "store-writer", slow_cleanup())
            life.start(group, "wallboard", broken())
    failure = first_failure(caught.value)
    assert isinstance(failure, OSError) and failure.daemon_task == "wallboard"
    assert describe(failure).startswith("task 'wallboard' failed: OSError(98")
    assert cleaned == ["ami"]
    [[line]] = logged_before_siblings_ended
    assert line["event"] == "daemon_task_failed" and line["task"] == "wallboard" and line["log_level"] == "error"
    assert isinstance(line["exc_info"], OSError)
    assert life.stopping == "task wallboard failed"


async def test_a_task_that_returns_ends_the_daemon_as_a_failure():
    life, cleaned = Life(), []

    async def returns() -> None:
        await asyncio.sleep(0.01)

    with capture_logs() as logs, pytest.raises(BaseExceptionGroup) as caught:
        async with asyncio.TaskGroup() as group:
            life.start(group, "ami", forever(cleaned, "ami"))
            life.start(group, "call-sweeper", returns())
    assert isinstance(first_failure(caught.value), TaskEnded)
    assert [(line["event"], line["task"]) for line in logs] == [("daemon_task_failed", "call-sweeper")]
    assert cleaned == ["ami"]


async def test_cancellation_is_a_stop_not_a_failure():
    life, cleaned = Life(), []

    async def run() -> None:
        async with asyncio.TaskGroup() as group:
            life.start(group, "ami", forever(cleaned, "ami"))
            life.start(group, "mqtt", forever(cleaned, "mqtt"))

    with capture_logs() as logs:
        task = asyncio.create_task(run())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert sorted(cleaned) == ["ami", "mqtt"] and logs == []


async def test_a_stop_that_overruns_its_limit_names_the_tasks_left_and_exits_1(monkeypatch):
    """The backstop under systemd's SIGKILL: a clean-up that hangs despite its own bounds."""
    from pbx_bridge import life as life_module

    exits = []
    monkeypatch.setattr(life_module, "STOP_LIMIT_S", 0.05)
    monkeypatch.setattr(life_module.os, "_exit", exits.append)
    life, cleaned = Life(), []
    life._guarded = True  # what guard() sets in the real process (beside its signal handlers)
    release = asyncio.Event()

    async def deaf() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await release.wait()  # a clean-up that hangs
            raise

    async def run() -> None:
        async with asyncio.TaskGroup() as group:
            life.start(group, "ami", forever(cleaned, "ami"))
            life.start(group, "stuck", deaf())

    with capture_logs() as logs:
        task = asyncio.create_task(run())
        await asyncio.sleep(0.01)
        life._begin_stop("SIGTERM")
        task.cancel()
        while not exits:
            await asyncio.sleep(0.01)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert exits == [1]
    [line] = [line for line in logs if line["event"] == "daemon_stop_overran"]
    assert line["tasks_still_running"] == ["stuck"] and line["reason"] == "SIGTERM"
