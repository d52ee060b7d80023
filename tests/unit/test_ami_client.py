"""The AMI connection's life: login, reconnect with backoff, dead peers noticed, handlers isolated."""

import asyncio

import pytest
import structlog

from pbx_bridge import logs
from pbx_bridge.ami.client import AmiClient
from tests.support.fake_ami import FakeAmi, ami_config, until

JOIN = b"Event: QueueCallerJoin\r\nUniqueid: 1.1\r\nQueue: q\r\nCallerIDName: \xe5\xbc\xa0\r\n\r\n"


@pytest.fixture
async def fake():
    server = await FakeAmi().start()
    yield server
    await server.close()


async def run_client(fake, events, **over):
    client = AmiClient(ami_config(fake.port, **over), "s3cret", events.append, ["QueueCallerJoin"])
    task = asyncio.create_task(client.run(), name="ami-under-test")
    return client, task


async def finish(task):
    """The daemon's one way to stop a component: cancel its task, which must end cancelled."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done, "the AMI task outlived its cancellation"
    assert task.cancelled(), "run() let the cancellation through"


async def test_events_reach_the_handler_after_login(fake):
    events = []
    client, task = await run_client(fake, events)
    await asyncio.wait_for(fake.logged_in.wait(), 5)
    await fake.push(JOIN)
    await until(lambda: events)
    assert events[0]["CallerIDName"] == "张"
    await finish(task)


async def test_client_reconnects_after_the_server_drops_the_connection(fake):
    events = []
    client, task = await run_client(fake, events)
    await until(lambda: fake.logins == 1)
    fake.drop_all()
    await until(lambda: client.sessions == 2)
    await finish(task)
    assert fake.logins == 2


async def test_an_unanswered_ping_is_noticed_and_the_client_reconnects(fake):
    client, task = await run_client(fake, [])
    await until(lambda: fake.logins == 1)
    fake.answer_pings = False  # the peer is there but dead: TCP alone would never tell
    await until(lambda: fake.logins == 2, timeout=5)
    await finish(task)


async def test_refused_login_is_retried_with_backoff(fake):
    fake.secret = "other"
    client, task = await run_client(fake, [])
    await until(lambda: sum(a.get("Action") == "Login" for a in fake.actions) >= 3)
    assert client.backoff.failures >= 2
    fake.secret = "s3cret"
    await until(lambda: fake.logins == 1)
    await finish(task)


async def test_an_exception_in_our_handler_keeps_the_connection(fake):
    seen = []

    def handler(event):
        seen.append(event)
        raise ValueError("bug")

    client = AmiClient(ami_config(fake.port), "s3cret", handler, None)
    task = asyncio.create_task(client.run())
    await until(lambda: fake.logins == 1)
    await fake.push(JOIN + JOIN)
    await until(lambda: len(seen) == 2)
    assert client.handler_errors == 2 and client.sessions == 1
    await finish(task)


async def test_cancellation_ends_the_reconnect_loop_while_it_waits_to_retry():
    client = AmiClient(ami_config(1, reconnect_min=30, reconnect_max=60), "s3cret", lambda e: None)
    task = asyncio.create_task(client.run())
    await asyncio.sleep(0.2)
    await finish(task)


async def test_the_secret_never_reaches_a_log_line(fake, capsys):
    logs.register_secret("s3cret")
    logs.configure("json", "debug")
    fake.secret = "nope"
    client, task = await run_client(fake, [])
    await until(lambda: len(fake.actions) >= 2)
    await finish(task)
    structlog.get_logger("t").info("probe", secret="s3cret", note="the secret is s3cret")
    out = capsys.readouterr().out
    assert "ami_login_refused" in out
    assert "s3cret" not in out
    structlog.reset_defaults()


async def test_a_list_answer_arrives_whole(fake):
    fake.alive_uniqueids = ["1.1", "1.2", "1.3"]
    client, task = await run_client(fake, [])
    await until(lambda: client.logged_in)
    listing = await client.send_action({"Action": "CoreShowChannels"}, timeout=5)
    assert [m.get("Uniqueid") for m in listing if m.get("Event") == "CoreShowChannel"] == ["1.1", "1.2", "1.3"]
    await finish(task)


async def test_queue_add_answer_resolves_although_panoramisk_takes_it_for_a_list(fake):
    client, task = await run_client(fake, [])
    await until(lambda: client.logged_in)
    reply = await client.send_action({"Action": "QueueAdd", "Queue": "q", "Interface": "PJSIP/a"}, timeout=2)
    assert reply.success and reply.get("Message") == "Added interface to queue"
    await finish(task)


async def test_cancelling_as_a_refused_connection_lands_still_ends_the_reconnect_loop(monkeypatch):
    """The issue's hang: on 3.11 asyncio.wait_for returned the refusal instead of the cancellation
    when both came in the same turn of the loop, and the loop reconnected for ever."""
    loop = asyncio.get_running_loop()
    attempts: list[asyncio.Future] = []

    def create_connection(*_args, **_kwargs):
        attempts.append(loop.create_future())
        return attempts[-1]

    monkeypatch.setattr(loop, "create_connection", create_connection)
    client = AmiClient(ami_config(1, reconnect_min=0.01, reconnect_max=0.02), "s3cret", lambda e: None)
    task = asyncio.create_task(client.run())
    await until(lambda: attempts)
    attempts[-1].set_exception(ConnectionRefusedError(111, "Connection refused"))
    await finish(task)  # the same turn: the refusal is delivered, the cancellation asked for


async def test_cancelling_as_the_login_answer_lands_still_ends_the_client(fake, monkeypatch):
    from panoramisk.message import Message

    from pbx_bridge.ami.protocol import StreamingAMIProtocol

    logins: list[asyncio.Future] = []
    send = StreamingAMIProtocol.send

    def held_login(self, data, as_list=False):
        if data.get("Action") != "Login":
            return send(self, data, as_list)
        logins.append(asyncio.get_running_loop().create_future())
        return logins[-1]

    monkeypatch.setattr(StreamingAMIProtocol, "send", held_login)
    client, task = await run_client(fake, [])
    await until(lambda: logins)
    logins[-1].set_result(Message({"Response": "Success", "Message": "Authentication accepted"}))
    await finish(task)
    assert not client.logged_in


@pytest.mark.parametrize("seed", range(3))
async def test_cancellation_at_any_moment_of_the_connection_ends_the_client(fake, seed):
    """Connecting, logging in, connected, pinging, reconnecting: wherever the cancellation lands."""
    import random

    rng = random.Random(seed)
    for _ in range(15):
        fake.answer_pings = rng.random() < 0.7
        client, task = await run_client(fake, [], ping_interval=0.01, ping_timeout=0.01,
                                        reconnect_min=0.001, reconnect_max=0.005)
        await asyncio.sleep(rng.uniform(0, 0.05))
        if rng.random() < 0.3:
            fake.drop_all()
            await asyncio.sleep(rng.choice([0, 0, 0.001, 0.01]))
        await finish(task)
        assert client.protocol is None or client.protocol.closed


async def test_events_without_timestamp_are_warned_about_once_per_connection(fake):
    from structlog.testing import capture_logs

    stamped = JOIN.replace(b"Uniqueid: 1.1", b"Timestamp: 1700000000.123456\r\nUniqueid: 1.1")
    events = []
    with capture_logs() as logged:
        client, task = await run_client(fake, events)
        await asyncio.wait_for(fake.logged_in.wait(), 5)
        await fake.push(JOIN + JOIN + stamped)  # timestampevents off: no Timestamp header
        await until(lambda: len(events) == 3)
        fake.drop_all()  # a new connection is looked at again
        await until(lambda: client.sessions == 2 and client.logged_in)
        await fake.push(JOIN)
        await until(lambda: len(events) == 4)
        await finish(task)
    warnings = [e for e in logged if e["event"] == "ami_events_without_timestamp"]
    assert len(warnings) == 2
    assert "timestampevents = yes" in warnings[0]["hint"] and "manager.conf" in warnings[0]["hint"]


async def test_events_with_timestamp_raise_no_warning(fake):
    from structlog.testing import capture_logs

    stamped = JOIN.replace(b"Uniqueid: 1.1", b"Timestamp: 1700000000.123456\r\nUniqueid: 1.1")
    events = []
    with capture_logs() as logged:
        client, task = await run_client(fake, events)
        await asyncio.wait_for(fake.logged_in.wait(), 5)
        await fake.push(stamped + JOIN)
        await until(lambda: len(events) == 2)
        await finish(task)
    assert not [e for e in logged if e["event"] == "ami_events_without_timestamp"]
