"""The AMI connection's life: login, reconnect with backoff, dead peers noticed, handlers isolated."""

import asyncio

import pytest
import structlog

from pbx_bridge import logs
from pbx_bridge.ami.client import AmiClient
from pbx_bridge.config import AmiConfig
from tests.support.fake_ami import FakeAmi

JOIN = b"Event: QueueCallerJoin\r\nUniqueid: 1.1\r\nQueue: q\r\nCallerIDName: \xe5\xbc\xa0\r\n\r\n"


def ami_config(port, **over):
    values = dict(host="127.0.0.1", port=port, username="pbx-bridge", connect_timeout=2, ping_interval=0.2,
                  ping_timeout=0.2, reconnect_min=0.05, reconnect_max=0.2)
    values.update(over)
    return AmiConfig(**values)


async def until(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def fake():
    server = await FakeAmi().start()
    yield server
    await server.close()


async def run_client(fake, events, **over):
    stop = asyncio.Event()
    client = AmiClient(ami_config(fake.port, **over), "s3cret", events.append, stop, ["QueueCallerJoin"])
    task = asyncio.create_task(client.run(), name="ami-under-test")
    return client, stop, task


async def finish(stop, task):
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_events_reach_the_handler_after_login(fake):
    events = []
    client, stop, task = await run_client(fake, events)
    await asyncio.wait_for(fake.logged_in.wait(), 5)
    await fake.push(JOIN)
    await until(lambda: events)
    assert events[0]["CallerIDName"] == "张"
    await finish(stop, task)


async def test_client_reconnects_after_the_server_drops_the_connection(fake):
    events = []
    client, stop, task = await run_client(fake, events)
    await until(lambda: fake.logins == 1)
    fake.drop_all()
    await until(lambda: fake.logins == 2)
    await finish(stop, task)
    assert client.sessions == 2


async def test_an_unanswered_ping_is_noticed_and_the_client_reconnects(fake):
    client, stop, task = await run_client(fake, [])
    await until(lambda: fake.logins == 1)
    fake.answer_pings = False  # the peer is there but dead: TCP alone would never tell
    await until(lambda: fake.logins == 2, timeout=5)
    await finish(stop, task)


async def test_refused_login_is_retried_with_backoff(fake):
    fake.secret = "other"
    client, stop, task = await run_client(fake, [])
    await until(lambda: sum(a.get("Action") == "Login" for a in fake.actions) >= 3)
    assert client.backoff.failures >= 2
    fake.secret = "s3cret"
    await until(lambda: fake.logins == 1)
    await finish(stop, task)


async def test_an_exception_in_our_handler_keeps_the_connection(fake):
    seen = []

    def handler(event):
        seen.append(event)
        raise ValueError("bug")

    stop = asyncio.Event()
    client = AmiClient(ami_config(fake.port), "s3cret", handler, stop, None)
    task = asyncio.create_task(client.run())
    await until(lambda: fake.logins == 1)
    await fake.push(JOIN + JOIN)
    await until(lambda: len(seen) == 2)
    assert client.handler_errors == 2 and client.sessions == 1
    await finish(stop, task)


async def test_stop_ends_the_reconnect_loop_promptly():
    stop = asyncio.Event()
    client = AmiClient(ami_config(1, reconnect_min=30, reconnect_max=60), "s3cret", lambda e: None, stop)
    task = asyncio.create_task(client.run())
    await asyncio.sleep(0.2)
    await finish(stop, task)


async def test_the_secret_never_reaches_a_log_line(fake, capsys):
    logs.register_secret("s3cret")
    logs.configure("json", "debug")
    fake.secret = "nope"
    client, stop, task = await run_client(fake, [])
    await until(lambda: len(fake.actions) >= 2)
    await finish(stop, task)
    structlog.get_logger("t").info("probe", secret="s3cret", note="the secret is s3cret")
    out = capsys.readouterr().out
    assert "ami_login_refused" in out
    assert "s3cret" not in out
    structlog.reset_defaults()


async def test_a_list_answer_arrives_whole(fake):
    fake.alive_uniqueids = ["1.1", "1.2", "1.3"]
    client, stop, task = await run_client(fake, [])
    await until(lambda: client.logged_in)
    listing = await client.send_action({"Action": "CoreShowChannels"}, timeout=5)
    assert [m.get("Uniqueid") for m in listing if m.get("Event") == "CoreShowChannel"] == ["1.1", "1.2", "1.3"]
    await finish(stop, task)


async def test_queue_add_answer_resolves_although_panoramisk_takes_it_for_a_list(fake):
    client, stop, task = await run_client(fake, [])
    await until(lambda: client.logged_in)
    reply = await client.send_action({"Action": "QueueAdd", "Queue": "q", "Interface": "PJSIP/a"}, timeout=2)
    assert reply.success and reply.get("Message") == "Added interface to queue"
    await finish(stop, task)


async def test_events_without_timestamp_are_warned_about_once_per_connection(fake):
    from structlog.testing import capture_logs

    stamped = JOIN.replace(b"Uniqueid: 1.1", b"Timestamp: 1700000000.123456\r\nUniqueid: 1.1")
    events = []
    with capture_logs() as logged:
        client, stop, task = await run_client(fake, events)
        await asyncio.wait_for(fake.logged_in.wait(), 5)
        await fake.push(JOIN + JOIN + stamped)  # timestampevents off: no Timestamp header
        await until(lambda: len(events) == 3)
        fake.drop_all()  # a new connection is looked at again
        await until(lambda: client.sessions == 2 and client.logged_in)
        await fake.push(JOIN)
        await until(lambda: len(events) == 4)
        await finish(stop, task)
    warnings = [e for e in logged if e["event"] == "ami_events_without_timestamp"]
    assert len(warnings) == 2
    assert "timestampevents = yes" in warnings[0]["hint"] and "manager.conf" in warnings[0]["hint"]


async def test_events_with_timestamp_raise_no_warning(fake):
    from structlog.testing import capture_logs

    stamped = JOIN.replace(b"Uniqueid: 1.1", b"Timestamp: 1700000000.123456\r\nUniqueid: 1.1")
    events = []
    with capture_logs() as logged:
        client, stop, task = await run_client(fake, events)
        await asyncio.wait_for(fake.logged_in.wait(), 5)
        await fake.push(stamped + JOIN)
        await until(lambda: len(events) == 2)
        await finish(stop, task)
    assert not [e for e in logged if e["event"] == "ami_events_without_timestamp"]
