"""The CALL BACK list in SQL: one request per customer, write-ahead claims, guarded results."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from pbx_bridge.callbacks import model, store
from pbx_bridge.store.engine import async_engine, sync_engine
from pbx_bridge.rooms import upgrade
from pbx_bridge.callbacks.tables import callback_requests

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai


async def engine_for(url):
    upgrade(url)
    return async_engine(url)


async def test_one_open_request_per_customer_and_queue(sqlite_url):
    engine = await engine_for(sqlite_url)
    first = await store.add_request(engine, "pbx1", "u1", "13800138000", "张三丰", "support", 3, T0)
    again = await store.add_request(engine, "pbx1", "u2", "13800138000", "", "support", 1, T0 + timedelta(minutes=1))
    other_queue = await store.add_request(engine, "pbx1", "u3", "13800138000", "", "sales", 1, T0)
    same_call = await store.add_request(engine, "pbx1", "u1", "13900000000", "", "support", 1, T0)
    assert first[1] is False and again == (first[0], True) and same_call == (first[0], True)
    assert other_queue[1] is False and other_queue[0] != first[0]
    rows = await store.open_requests(engine, "pbx1")
    assert [(r.number, r.queue, r.position, r.caller_name) for r in rows] == [
        ("13800138000", "support", 3, "张三丰"), ("13800138000", "sales", 1, "")]
    assert rows[0].requested_at == T0
    await engine.dispose()


async def test_a_claim_is_committed_once_and_results_only_touch_their_attempt(sqlite_url):
    engine = await engine_for(sqlite_url)
    rid, _ = await store.add_request(engine, "pbx1", "u1", "13800138000", "", "support", 1, T0)
    request = await store.get(engine, rid)
    assert await store.claim(engine, request, "1-1", "Agent 201", T0)
    assert not await store.claim(engine, request, "1-1", "Agent 202", T0), "a second claim of the same read loses"
    claimed = await store.get(engine, rid)
    assert (claimed.status, claimed.attempt_id, claimed.originates, claimed.agent) == ("dialling", "1-1", 1, "Agent 201")
    assert not await store.finish_attempt(engine, rid, "1-0", {"status": "done"}), "a stale attempt changes nothing"
    assert await store.finish_attempt(engine, rid, "1-1", {"status": "pending", "attempts": 1,
                                                          "next_try_at": T0 + timedelta(minutes=5)})
    assert not await store.finish_attempt(engine, rid, "1-1", {"status": "failed"}), "settled once"
    again = await store.get(engine, rid)
    assert again.status == "pending" and again.next_try_at == T0 + timedelta(minutes=5)
    await engine.dispose()


async def test_a_cancelled_request_stays_cancelled_unless_the_customer_was_reached(sqlite_url):
    engine = await engine_for(sqlite_url)
    sync = sync_engine(sqlite_url)
    for uid, number in (("u1", "1381"), ("u2", "1382")):
        rid, _ = await store.add_request(engine, "pbx1", uid, number, "", "support", 1, T0)
        await store.claim(engine, await store.get(engine, rid), f"{rid}-1", "A", T0)
        assert store.cancel(sync, rid).status == "cancelled"
    assert store.cancel(sync, 1) is None, "only an open request can be cancelled"
    assert not await store.finish_attempt(engine, 1, "1-1", {"status": "pending"})
    assert await store.finish_attempt(engine, 2, "2-1", {"status": "done", "done_at": T0})
    assert [(await store.get(engine, i)).status for i in (1, 2)] == ["cancelled", "done"]
    sync.dispose()
    await engine.dispose()


async def test_an_answered_inbound_call_closes_pending_requests_made_before_it(sqlite_url):
    engine = await engine_for(sqlite_url)
    await store.add_request(engine, "pbx1", "u1", "1381", "", "support", 1, T0)
    await store.add_request(engine, "pbx1", "u2", "1381", "", "sales", 1, T0 + timedelta(minutes=30))
    await store.add_request(engine, "pbx1", "u3", "1382", "", "support", 1, T0)
    await store.add_request(engine, "pbx2", "u4", "1381", "", "support", 1, T0)
    assert await store.close_by_inbound(engine, "pbx1", "1381", T0 + timedelta(minutes=10)) == [1]
    statuses = {r.id: r.status for r in await store.open_requests(engine, "pbx1")}
    assert statuses == {2: "pending", 3: "pending"}
    closed = await store.get(engine, 1)
    assert closed.status == "answered-inbound" and closed.done_at is not None
    await engine.dispose()


async def test_the_list_by_status_and_local_day(sqlite_url):
    engine = await engine_for(sqlite_url)
    await store.add_request(engine, "pbx1", "u1", "1381", "", "support", 1, T0)
    await store.add_request(engine, "pbx1", "u2", "1382", "", "support", 1, T0 - timedelta(hours=3))  # 07:00
    await store.add_request(engine, "pbx1", "u3", "1383", "", "support", 1, T0 - timedelta(hours=11))  # yesterday
    sync = sync_engine(sqlite_url)
    store.cancel(sync, 2)
    assert [r.number for r in store.listing(sync, model.OPEN, None, SH)] == ["1383", "1381"]
    assert [r.number for r in store.listing(sync, None, date(2026, 11, 23), SH)] == ["1382", "1381"]
    assert [r.number for r in store.listing(sync, ("cancelled",), None, SH)] == ["1382"]
    with sync.connect() as conn:
        assert conn.execute(select(callback_requests.c.status)).scalars().all().count("pending") == 2
    sync.dispose()
    await engine.dispose()
