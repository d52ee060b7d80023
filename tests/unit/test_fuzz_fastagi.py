"""Fuzzing the real FastAGI server on 127.0.0.1 (port 0) with what a broken or hostile peer sends.

Every example runs against a fresh server with short timeouts and must:
- end: the session closes by itself, whatever the peer sends or withholds. Each example runs
  under `asyncio.timeout` as a liveness check (a hang fails the test; nothing asserts durations);
- be accounted for: every connection ends as served, failed, malformed or rejected, and no
  session is left active;
- never reach the route-crash branch (that is for bugs in our routes, not for a peer's garbage);
- leave the server serving: a correct session (tests/support/agi_peer.py) gets the ring-twice
  commands afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from hypothesis import given, strategies as st
from structlog.testing import capture_logs

from pbx_bridge.agi.server import MAX_HEADER_LINES, MAX_LINE, FastAgiServer
from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.config import load_config
from pbx_bridge.ring_twice.route import ring_twice
from tests.support.agi_peer import AGI_SECRET, AgiPeer
from tests.support.fuzzing import fuzz_settings

LIVENESS_S = 10  # far above any configured timeout here: only a session that never ends reaches it
AGENT_PLAN = ["SET VARIABLE PBXB_RING_TIMEOUT 6", "SET VARIABLE PBXB_RING_TWICE ok"]
INBOUND_PLAN = ["EXEC Ringing", "EXEC Wait 6", "SET VARIABLE PBXB_RING_TWICE ok"]


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "config.yaml"
    path.write_text("ami:\n  host: 127.0.0.1\n")
    return {"ring_twice": ring_twice(load_config(str(path), env={}))}


@contextlib.asynccontextmanager
async def serving(routes, **over):
    values = dict(host="127.0.0.1", port=0, header_timeout=0.25, command_timeout=0.25, max_sessions=20,
                  secret=AGI_SECRET)
    values.update(over)
    server = FastAgiServer(AgiConfig(**values), routes)
    task = asyncio.create_task(server.run(), name="fastagi-under-fuzz")
    try:
        async with asyncio.timeout(LIVENESS_S):
            while not server.listening:
                await asyncio.sleep(0.005)
        yield server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def ended(server) -> int:
    return server.served + server.failed + server.malformed + server.rejected + server.unauthenticated


async def settled(server, connections: int) -> None:
    """Every connection made so far has ended, one way or another (liveness-bounded)."""
    async with asyncio.timeout(LIVENESS_S):
        while server.active or ended(server) < connections:
            await asyncio.sleep(0.01)
    assert ended(server) == connections, server.health()


async def still_serves(server) -> None:
    peer = AgiPeer.fastagi("ring_twice", ["agent"], port=server.port)
    async with asyncio.timeout(LIVENESS_S):
        assert await peer.call_fastagi("127.0.0.1", server.port) == AGENT_PLAN


def header(role="agent", script="ring_twice") -> bytes:
    return AgiPeer.fastagi(script, [role]).header()


async def until_closed(reader) -> None:
    """Read until the server closes the connection."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(65536):
            pass


def run(example, routes, **over):
    """One example: a fresh server, the example, then the checks every example shares."""
    async def main():
        with capture_logs() as logs:
            async with serving(routes, **over) as server:
                async with asyncio.timeout(LIVENESS_S):
                    connections = await example(server)
                await settled(server, connections)
                await still_serves(server)
                await settled(server, connections + 1)
        assert not [entry for entry in logs if entry["event"] == "fastagi_route_crashed"]

    asyncio.run(main())


# --- the header ------------------------------------------------------------------------------

HEADER_PIECES = [
    b"agi_network: yes\n", b"agi_network_script: ring_twice\n", b"agi_arg_1: agent\n", b"agi_arg_1: inbound\n",
    b"agi_uniqueid: 1700000000.1\n", b"agi_x: y\r\n", b"\n", b"\r\n", b"agi_no_colon\n", b"not_agi: x\n",
    b": \n", b"agi_network_script: ../../etc/passwd?x=1\n", b"agi_network_script: voicemail\n",
    b"agi_calleridname: \xe5\xbc\xa0\xff\xfe\n", b"\x00\xff\n", b"HANGUP\n", b"200 result=0\n",
    b"agi_arg_1: " + b"a" * (MAX_LINE + 10) + b"\n",  # too long, within the reader's limit
    b"agi_arg_2: " + b"b" * (3 * MAX_LINE),  # over the reader's limit, no newline
    b"agi_x: y\n" * (MAX_HEADER_LINES + 1),
    header("agent"), header("inbound"), header("bogus"), header("agent", "no_such_route"),
]
HEADERS = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from(HEADER_PIECES), max_size=8).map(b"".join),
    st.tuples(st.sampled_from([header("agent"), header("inbound")]), st.integers(0, 400))
      .map(lambda t: t[0][: t[1]]),  # a real header cut anywhere
)
# eof: the peer half-closes after sending; abort: it resets; silent: it waits for the server
ENDINGS = st.sampled_from(["eof", "abort", "silent"])


@fuzz_settings(0.4)
@given(HEADERS, ENDINGS)
def test_any_header_bytes_end_the_session_and_the_server_still_serves(routes, payload, ending):
    async def example(server):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(payload)
        if ending == "abort":
            writer.transport.abort()
            return 1
        if ending == "eof":
            writer.write_eof()
        # a complete header starts the route: answer nothing; the command timeout ends it
        await until_closed(reader)
        writer.transport.abort()
        return 1

    run(example, routes)


@pytest.mark.parametrize("payload", [
    b"agi_network: yes\nagi_arg_1: " + b"a" * 100_000,  # one huge line, no newline
    b"agi_network: yes\n" + b"agi_x: " + b"y" * (MAX_LINE + 1) + b"\n",
    b"agi_x: y\n" * 10_000,  # lines without end
    b"agi_network: yes",  # no newline, then silence
    b"",  # connect, send nothing
], ids=["huge-line", "long-line", "too-many-lines", "no-newline", "nothing"])
def test_a_header_that_never_ends_properly_is_cut_off(routes, payload):
    async def example(server):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(payload)
        await until_closed(reader)  # the server, not the peer, ends it
        writer.transport.abort()
        assert server.malformed == 1
        return 1

    run(example, routes)


def test_a_slowloris_header_is_closed_by_the_header_timeout_while_others_are_served(routes):
    """A peer that drips a valid header a byte at a time never gets to keep its session."""
    async def example(server):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)

        async def drip():
            for byte in header("inbound"):
                writer.write(bytes([byte]))
                await asyncio.sleep(0.02)

        dripping = asyncio.create_task(drip())
        await still_serves(server)  # a correct session meanwhile
        await until_closed(reader)
        dripping.cancel()
        writer.transport.abort()
        assert server.malformed == 1 and server.served == 1
        return 2

    run(example, routes)


# --- the answers to commands ------------------------------------------------------------------

USAGE = (b"520-Invalid command syntax.  Proper usage follows:\n"
         b"Usage: SET VARIABLE <variablename> <value>\n520 End of proper usage.\n")
REPLY_LINES = [
    b"200 result=0\n", b"200 result=1\n", b"200 result=\n", b"200 result= (timeout)\n", b"200 result=1 (timeout)\n",
    b"200 result=-1\n", b"200 result=-1 (hangup)\n", b"200\n", b"200 \n", b"200 result\n", b"200 result=0 (\n",
    b"200 result=abc (x) (y)\n", b"200 result=0\r\n", b"200 Result=0\n", b"HANGUP\n", b"100 result=0 Trying...\n",
    b"510 Invalid or unknown command\n", b"511 Command Not Permitted on a dead channel or intercepted\n",
    USAGE, b"520-Invalid command syntax.  Proper usage follows:\n", b"520 End of proper usage.\n",
    b"999 result=0\n", b"20 result=0\n", b"\n", b"\r\n", b"\xff\xfe\n", b"result=0\n",
    b"200 result=0 " + b"x" * (MAX_LINE + 1) + b"\n", b"200 result=0" + b"x" * (3 * MAX_LINE),
    b"200 result=0",  # no newline
]
REPLIES = st.one_of(st.lists(st.sampled_from(REPLY_LINES), min_size=1, max_size=3).map(b"".join),
                    st.binary(min_size=1, max_size=80))


@fuzz_settings(0.5)
@given(st.sampled_from(["agent", "inbound", "bogus"]), st.lists(REPLIES, max_size=4), ENDINGS)
def test_garbage_answers_to_commands_end_the_session_and_the_server_still_serves(routes, role, replies, ending):
    """One scripted answer per command the server sends, then the peer closes, resets or waits."""
    async def example(server):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(header(role))
        try:
            for reply in replies:
                if not await reader.readline():
                    break  # the server has ended the session
                writer.write(reply)
            if ending == "abort":  # mid-command, or after the last one
                writer.transport.abort()
                return 1
            if ending == "eof":
                writer.write_eof()
            await until_closed(reader)
        except OSError:  # reset, or not connected any more: the server ended the session first
            pass
        writer.transport.abort()
        return 1

    run(example, routes)


@pytest.mark.parametrize("drip", [
    [b"HANGUP\n"],
    [b"100 result=0 Trying...\n"],
    [b"520-Invalid command syntax.  Proper usage follows:\n", b"Usage: still coming\n"],
], ids=["hangup-notices", "trying", "endless-usage"])
def test_a_reply_dripped_line_by_line_is_cut_off_by_the_command_timeout(routes, drip):
    """Each line came well within the command timeout, and the server waited for the next one
    forever: the timeout was per line. It now bounds the whole reply to a command."""
    async def example(server):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(header("agent"))
        await reader.readline()
        writer.write(drip[0])

        async def keep_dripping():
            while True:
                writer.write(drip[-1])
                await asyncio.sleep(0.05)

        dripping = asyncio.create_task(keep_dripping())
        await until_closed(reader)
        dripping.cancel()
        writer.transport.abort()
        assert server.failed == 1
        return 1

    run(example, routes)


def test_a_reply_line_over_the_reader_limit_fails_the_session_without_a_crash_report(routes):
    """A reply line of more than 8 KiB raised ValueError from the stream reader, which the server
    logged as a crash of the route, with a traceback."""
    async def example(server):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(header("agent"))
        await reader.readline()
        writer.write(b"200 result=0 " + b"x" * (3 * MAX_LINE) + b"\n")
        await until_closed(reader)
        writer.transport.abort()
        assert server.failed == 1
        return 1

    run(example, routes)


# --- more peers than sessions -----------------------------------------------------------------

@fuzz_settings(0.1)
@given(st.integers(1, 6), st.sampled_from([b"", b"agi_network: yes\n", header("agent")]), ENDINGS)
def test_connections_beyond_max_sessions_are_refused_and_the_slots_come_back(routes, extra, held_with, ending):
    limit = 3

    async def example(server):
        held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(limit)]
        for _, writer in held:
            writer.write(held_with)
        while len(server.active) < limit:
            await asyncio.sleep(0.005)
        for _ in range(extra):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            with contextlib.suppress(ConnectionError):
                assert await reader.read() == b""  # refused at once
            writer.transport.abort()
        assert server.rejected == extra
        for reader, writer in held:
            if ending == "abort":
                writer.transport.abort()
            else:
                if ending == "eof":
                    writer.write_eof()
                await until_closed(reader)  # the server's timeouts end them
                writer.transport.abort()
        await settled(server, limit + extra)
        # every slot is free again: `limit` correct sessions at once are all served
        await asyncio.gather(*(still_serves(server) for _ in range(limit)))
        return limit + extra + limit

    run(example, routes, max_sessions=limit, header_timeout=1.0)
