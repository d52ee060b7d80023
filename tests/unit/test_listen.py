"""pbx_bridge/listen.py: the one listening mechanism of the FastAGI server and the wallboard."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest
from structlog.testing import capture_logs

from pbx_bridge import listen
from pbx_bridge.agi.server import FastAgiServer
from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.config import load_config
from pbx_bridge.listen import ListenError, Listener, listen_error_in
from pbx_bridge.ring_twice.route import ring_twice
from pbx_bridge.live.wallboard_server import WallboardServer
from tests.support.agi_peer import AGI_SECRET, AgiPeer

AGENT_PLAN = ["SET VARIABLE PBXB_RING_TIMEOUT 6", "SET VARIABLE PBXB_RING_TWICE ok"]


@pytest.fixture
def routes(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("ami:\n  host: 127.0.0.1\n")
    return {"ring_twice": ring_twice(load_config(str(path), env={}))}


def agi_config(**over) -> AgiConfig:
    values = dict(host="127.0.0.1", port=0, header_timeout=2, command_timeout=2, max_sessions=20, secret=AGI_SECRET)
    values.update(over)
    return AgiConfig(**values)


async def until(predicate, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):  # liveness only
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.fixture
def taken_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_a_wallboard_port_in_use_is_a_listen_error_naming_it(taken_port):
    with pytest.raises(ListenError) as caught:
        await WallboardServer("127.0.0.1", taken_port).run()
    assert str(caught.value) == f"wallboard: cannot listen on 127.0.0.1:{taken_port}: Address already in use"


async def test_a_fastagi_port_in_use_is_a_listen_error_naming_it(routes, taken_port):
    with pytest.raises(ListenError) as caught:
        await FastAgiServer(agi_config(port=taken_port), routes).run()
    assert str(caught.value) == f"agi: cannot listen on 127.0.0.1:{taken_port}: Address already in use"


@pytest.mark.parametrize("host,reason", [("192.0.2.1", "Cannot assign requested address"),
                                         ("no-such-host.invalid", "")])
async def test_an_address_that_cannot_be_had_is_a_listen_error(host, reason):
    with pytest.raises(ListenError, match=f"^wallboard: cannot listen on {host}:0: {reason}"):
        await Listener("wallboard", host, 0, None, max_connections=1).bind()


def test_the_listen_error_is_found_inside_the_task_groups_exception_groups():
    error = ListenError("agi: cannot listen on 127.0.0.1:4573: Address already in use")
    assert listen_error_in(ExceptionGroup("daemon", [ExceptionGroup("inner", [error])])) is error
    assert listen_error_in(ExceptionGroup("daemon", [ValueError()])) is None


async def test_out_of_descriptors_at_accept_is_counted_logged_once_and_survived(monkeypatch):
    """accept() failing with EMFILE (all descriptors taken) as a burst: no traceback per failure,
    and the listener accepts again once descriptors are free."""
    served = []

    async def handler(reader, writer):
        served.append(await reader.readline())
        writer.close()

    listener = Listener("wallboard", "127.0.0.1", 0, handler, max_connections=4)
    loop = asyncio.get_running_loop()
    real_accept = loop.sock_accept
    failures = iter(range(25))

    async def accept(sock):
        if next(failures, None) is not None:
            raise OSError(errno.EMFILE, "Too many open files")
        return await real_accept(sock)

    monkeypatch.setattr(loop, "sock_accept", accept)
    monkeypatch.setattr(listen, "ACCEPT_RETRY_S", 0.001)
    with capture_logs() as logs:
        task = asyncio.create_task(listener.serve())
        await until(lambda: listener.listening)
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writer.write(b"hello\n")
        await until(lambda: served)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert served == [b"hello\n"] and listener.accept_errors == 25
    failed = [entry for entry in logs if entry["event"] == "wallboard_accept_failed"]
    assert len(failed) == 1 and "exc_info" not in failed[0] and failed[0]["error"] == "Too many open files"
    writer.close()


async def test_fastagi_serves_ring_twice_while_the_wallboard_is_full_of_idle_connections(routes):
    """Idle clients hold every wallboard connection and more keep coming: the FastAGI server
    still answers a ring_twice session, and the wallboard keeps closing the excess at once."""
    agi = FastAgiServer(agi_config(), routes)
    board = WallboardServer("127.0.0.1", 0, max_connections=8, idle_timeout=30)
    tasks = [asyncio.create_task(agi.run()), asyncio.create_task(board.run())]
    await until(lambda: agi.listening and board.listening)
    idle = [await asyncio.open_connection("127.0.0.1", board.port) for _ in range(8)]
    await until(lambda: board.health()["active"] == 8)
    more = [await asyncio.open_connection("127.0.0.1", board.port) for _ in range(50)]
    peer = AgiPeer.fastagi("ring_twice", ["agent"], port=agi.port)
    async with asyncio.timeout(10):  # liveness only
        assert await peer.call_fastagi("127.0.0.1", agi.port) == AGENT_PLAN
        for reader, _ in more:
            assert await reader.read() == b""  # closed at once, unanswered
    assert board.health()["over_capacity"] == 50 and board.health()["active"] == 8
    assert agi.served == 1 and agi.rejected == 0
    for _, writer in idle + more:
        writer.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_wallboard_connection_on_the_last_descriptors_is_refused(monkeypatch):
    board = WallboardServer("127.0.0.1", 0, max_connections=1000)
    monkeypatch.setattr(listen, "_fd_limit", lambda: 0)  # every descriptor is among the last ones
    task = asyncio.create_task(board.run())
    await until(lambda: board.listening)
    reader, writer = await asyncio.open_connection("127.0.0.1", board.port)
    writer.write(b"GET / HTTP/1.1\r\n\r\n")
    async with asyncio.timeout(5):
        assert await reader.read() == b""
    assert board.health()["over_capacity"] == 1 and board.served == 0
    writer.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_the_descriptor_budget_raises_the_soft_limit_up_to_the_hard_one(monkeypatch):
    limits = {"now": (1024, 4096)}
    monkeypatch.setattr(listen.resource, "getrlimit", lambda _: limits["now"])
    monkeypatch.setattr(listen.resource, "setrlimit", lambda _, value: limits.update(now=value))
    listen.ensure_fd_budget(2000)
    assert limits["now"] == (2000 + listen.OTHER_FDS, 4096)
    limits["now"] = (1024, 1024)
    with capture_logs() as logs:
        listen.ensure_fd_budget(2000)
    assert limits["now"] == (1024, 1024) and [e["event"] for e in logs] == ["fd_limit_low"]


def test_the_default_wallboard_port_is_none_of_asterisks_nor_mosquittos(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("ami:\n  host: 127.0.0.1\n")
    cfg = load_config(str(path), env={})
    taken = {8088, 8089, 5038, 4573, 5060, 5061, 4569, 9001, 1883, cfg.agi.port, cfg.mqtt.port}
    assert cfg.wallboard.port not in taken and cfg.wallboard.port == 8480
    assert (cfg.wallboard.max_connections, cfg.wallboard.idle_timeout) == (64, 10)


def test_the_unit_allows_far_more_descriptors_than_the_listeners_caps_and_the_rest(tmp_path):
    from pathlib import Path

    path = tmp_path / "c.yaml"
    path.write_text("ami:\n  host: 127.0.0.1\n")
    cfg = load_config(str(path), env={})
    unit = (Path(__file__).resolve().parents[2] / "systemd" / "pbx-bridge.service").read_text()
    limits = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("LimitNOFILE=")]
    assert len(limits) == 1
    needed = cfg.agi.max_sessions + cfg.wallboard.max_connections + listen.OTHER_FDS
    assert int(limits[0]) >= 10 * needed
