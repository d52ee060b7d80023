"""FastAGI `callback_request`: what a caller who pressed 1 gets, with Asterisk's side played by
tests/support/agi_peer.py."""

import asyncio

import pytest

from pbx_bridge.agi.server import FastAgiServer
from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.callbacks import store
from pbx_bridge.callbacks.routes import callback_request
from pbx_bridge.callbacks.settings import CallbacksConfig
from pbx_bridge.store.engine import async_engine
from pbx_bridge.rooms import upgrade
from tests.support.agi_peer import AGI_SECRET, AgiPeer

CFG = CallbacksConfig(enabled=True, offer_after=60, idle_after=10, retry_after=300, max_attempts=3, dial_timeout=30,
                      poll_interval=3, max_parallel=2, customer_context="pbx-bridge-callback-customer")
NOW = 1_800_000_000.0


@pytest.fixture
async def serve(sqlite_url):
    upgrade(sqlite_url)
    engine = async_engine(sqlite_url)
    running = []

    async def start(joins: dict, cfg=CFG, clock=lambda: NOW, store_engine=None):
        route = callback_request(cfg, "pbx1", store_engine or engine, joins.get, clock)
        server = FastAgiServer(AgiConfig(host="127.0.0.1", port=0, header_timeout=1, command_timeout=2,
                                         max_sessions=5, secret=AGI_SECRET), {"callback_request": route})
        task = asyncio.create_task(server.run())
        running.append(task)
        while not server.listening:
            await asyncio.sleep(0.01)
        return server.port

    yield engine, start
    for task in running:
        task.cancel()
    await engine.dispose()


async def press_1(port, uniqueid="1795000000.2", caller="13800138000", position="3", maxwait="600"):
    peer = AgiPeer.fastagi("callback_request", ["support", position], port=port, uniqueid=uniqueid,
                           caller_num=caller, replies={"GET VARIABLE PBXB_MAXWAIT": f"200 result=1 ({maxwait})"})
    commands = await peer.call_fastagi("127.0.0.1", port)
    return {c.split()[2]: c.split()[3] for c in commands if c.startswith("SET VARIABLE")}


async def test_a_caller_who_waited_long_enough_leaves_a_request(serve):
    engine, start = serve
    port = await start({"1795000000.2": NOW - 75})
    assert await press_1(port) == {"PBXB_CALLBACK": "accepted"}
    [request] = await store.open_requests(engine, "pbx1")
    assert (request.number, request.caller_name, request.queue, request.position, request.uniqueid, request.status) == (
        "13800138000", "张三丰", "support", 3, "1795000000.2", "pending")
    assert request.requested_at.timestamp() == NOW


async def test_an_early_press_goes_back_to_the_queue_and_the_wait_counts_from_the_first_join(serve):
    engine, start = serve
    joins = {"1795000000.2": NOW - 40}
    clock = [NOW]
    port = await start(joins, clock=lambda: clock[0])
    assert await press_1(port, maxwait="600") == {"PBXB_REQUEUE_MAXWAIT": "560", "PBXB_CALLBACK": "early"}
    joins["1795000000.2"] = NOW + 1  # back in the queue: the tracker now has the second join
    clock[0] = NOW + 25
    assert await press_1(port) == {"PBXB_CALLBACK": "accepted"}, "65 s since the first join"
    assert len(await store.open_requests(engine, "pbx1")) == 1


async def test_no_number_no_request_and_the_caller_keeps_their_place(serve):
    engine, start = serve
    port = await start({"1795000000.2": NOW - 75})
    assert await press_1(port, caller="anonymous") == {"PBXB_REQUEUE_MAXWAIT": "525", "PBXB_CALLBACK": "anonymous"}
    assert await store.open_requests(engine, "pbx1") == []


async def test_disabled_and_a_store_that_is_down_put_the_caller_back(serve, tmp_path):
    engine, start = serve
    port = await start({}, cfg=CFG.model_copy(update={"enabled": False}))
    assert (await press_1(port))["PBXB_CALLBACK"] == "disabled"
    broken = async_engine(f"sqlite:///{tmp_path}/no-tables.db")
    port = await start({"1795000000.2": NOW - 75}, store_engine=broken)
    assert await press_1(port) == {"PBXB_REQUEUE_MAXWAIT": "525", "PBXB_CALLBACK": "error"}
    await broken.dispose()
    assert await store.open_requests(engine, "pbx1") == []


async def test_pressing_again_from_the_same_number_keeps_one_request(serve):
    engine, start = serve
    port = await start({"a": NOW - 100, "b": NOW - 90})
    assert (await press_1(port, uniqueid="a"))["PBXB_CALLBACK"] == "accepted"
    assert (await press_1(port, uniqueid="b"))["PBXB_CALLBACK"] == "accepted"
    assert len(await store.open_requests(engine, "pbx1")) == 1


async def test_a_press_from_a_call_the_tracker_never_saw_join_stores_nothing(serve):
    """A wait of unknown length (a forged session, a call from before a restart) is refused:
    the caller goes back into the queue with their whole max wait, and the list stays empty."""
    engine, start = serve
    port = await start({"1795000000.9": NOW - 300})
    assert await press_1(port, uniqueid="1795000000.2") == {"PBXB_REQUEUE_MAXWAIT": "600", "PBXB_CALLBACK": "unknown"}
    assert await store.open_requests(engine, "pbx1") == []
