"""The FastAGI server: bounded sessions, and nothing a client sends can stall the others."""

import asyncio
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pbx_bridge.agi.server import AgiProtocolError, FastAgiServer, parse_reply, read_header
from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.config import load_config
from pbx_bridge.ring_twice.route import ring_twice
from tests.support.agi_peer import AGI_SECRET

HEADER = (
    f"agi_network: yes\nagi_network_script: ring_twice?auth={AGI_SECRET}\n"
    f"agi_request: agi://127.0.0.1/ring_twice?auth={AGI_SECRET}\n"
    "agi_channel: Local/201@pbx-bridge-agents-00000001;2\nagi_uniqueid: 1795459879.2\nagi_arg_1: {role}\n\n"
)


def agi_config(**over):
    values = dict(host="127.0.0.1", port=0, header_timeout=0.5, command_timeout=1.0, max_sessions=50,
                  secret=AGI_SECRET)
    values.update(over)
    return AgiConfig(**values)


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("ami:\n  host: 127.0.0.1\n")
    return load_config(str(path), env={})


async def start(cfg, **over):
    server = FastAgiServer(agi_config(**over), {"ring_twice": ring_twice(cfg)})
    task = asyncio.create_task(server.run(), name="fastagi-under-test")
    while not server.listening:
        await asyncio.sleep(0.01)
    port = server.port
    return server, task, port


async def real_session(port, role="agent"):
    """Plays Asterisk: header, then `200 result=0` to every command until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEADER.format(role=role).encode())
    commands = []
    while line := await asyncio.wait_for(reader.readline(), 5):
        commands.append(line.decode().strip())
        writer.write(b"200 result=0\n")
    writer.close()
    return commands


async def stop(task):
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_ring_twice_agent_leg_sets_the_dial_timeout(cfg):
    server, task, port = await start(cfg)
    commands = await real_session(port, "agent")
    assert commands == ["SET VARIABLE PBXB_RING_TIMEOUT 6", "SET VARIABLE PBXB_RING_TWICE ok"]
    await stop(task)


async def test_ring_twice_inbound_rings_two_rings_before_answer(cfg):
    server, task, port = await start(cfg)
    commands = await real_session(port, "inbound")
    assert commands == ["EXEC Ringing", "EXEC Wait 6", "SET VARIABLE PBXB_RING_TWICE ok"]
    await stop(task)


async def test_hangup_notice_then_511_ends_the_session_quietly(cfg):
    server, task, port = await start(cfg)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEADER.format(role="inbound").encode())
    await reader.readline()
    writer.write(b"HANGUP\n511 Command Not Permitted on a dead channel or intercepted\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert server.failed == 0 and server.served == 1
    await stop(task)


async def test_a_stalled_client_does_not_block_others(cfg):
    server, task, port = await start(cfg)
    stalled = [await asyncio.open_connection("127.0.0.1", port) for _ in range(10)]
    for _, writer in stalled:
        writer.write(b"agi_network: yes\nagi_netw")  # half a header, then silence
    assert await asyncio.wait_for(real_session(port), 2)
    await asyncio.sleep(0.7)  # past header_timeout: the stalled ones are gone
    assert server.malformed == 10
    await stop(task)


async def test_sessions_beyond_the_limit_are_refused_at_once(cfg):
    server, task, port = await start(cfg, max_sessions=3, header_timeout=2)
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    await asyncio.sleep(0.1)
    reader, _ = await asyncio.open_connection("127.0.0.1", port)
    assert await asyncio.wait_for(reader.read(), 1) == b""
    assert server.rejected == 1 and len(held) == 3  # the three held sessions are still open
    await stop(task)


def test_reply_parsing():
    assert parse_reply("200 result=1 (timeout)").data == "timeout"
    assert parse_reply("200 result=0").result == "0"
    with pytest.raises(AgiProtocolError):
        parse_reply("\x00junk")


JUNK = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.lists(st.sampled_from([b"agi_x: y\n", b"\n", b"agi_network_script: ring_twice\n", b"\xff\xfe",
                              b"agi_arg_1: " + b"a" * 5000 + b"\n", b"200 result=0\n", b"HANGUP\n"]),
             max_size=12).map(b"".join),
)


async def fire(port, payload, close_early):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    try:
        if payload:
            writer.write(payload)
        if close_early:
            writer.transport.abort()
            return
        try:
            await asyncio.wait_for(reader.read(65536), 0.3)
        except (TimeoutError, ConnectionError):
            pass
    finally:
        writer.transport.abort()


async def test_a_thousand_malformed_sessions_leave_the_server_serving(cfg):
    server, task, port = await start(cfg, header_timeout=0.2, command_timeout=0.3, max_sessions=200)
    rng = random.Random(1)
    sent = 0
    while sent < 1000:
        batch = []
        for _ in range(50):
            payload = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
            if rng.random() < 0.3:
                payload = HEADER.format(role=rng.choice(["agent", "bogus", "inbound"])).encode()[: rng.randint(0, 250)]
            batch.append(fire(port, payload, rng.random() < 0.3))
        await asyncio.gather(*batch)
        sent += len(batch)
    assert await asyncio.wait_for(real_session(port), 3)
    await asyncio.sleep(0.5)
    assert len(server.active) == 0, "no session left hanging"
    await stop(task)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JUNK)
def test_the_header_reader_ends_on_any_input(payload):
    async def check():
        reader = asyncio.StreamReader(limit=8192)
        reader.feed_data(payload)
        reader.feed_eof()
        try:
            headers = await read_header(reader, 1.0)
        except (AgiProtocolError, TimeoutError, ValueError):
            return
        assert all(key.startswith("agi_") for key in headers)

    asyncio.run(check())


async def test_a_command_given_a_longer_timeout_outlasts_the_configured_one():
    """A voicemail message or a call back lasts as long as it lasts, not command_timeout."""
    from pbx_bridge.agi.server import AgiSession

    reader = asyncio.StreamReader()

    class Sink:
        def write(self, data):
            pass

        async def drain(self):
            pass

    session = AgiSession({}, reader, Sink(), agi_config(command_timeout=0.2))

    async def late_reply():
        await asyncio.sleep(0.5)
        reader.feed_data(b"200 result=0 endpos=80000\n")

    feeder = asyncio.create_task(late_reply())
    reply = await session.command('STREAM FILE long-message ""', timeout=5)
    await feeder
    assert reply.result == "0"
    with pytest.raises(TimeoutError):
        await session.command('STREAM FILE another ""')
