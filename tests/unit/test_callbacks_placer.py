"""The callbacks task against a scripted Asterisk: write-ahead, who is rung, what each end does,
and what a restarted daemon does with attempts it did not see end (never a second dial)."""

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from pbx_bridge.callbacks import store
from pbx_bridge.callbacks.placer import CallbackPlacer
from pbx_bridge.callbacks.settings import CallbacksConfig
from pbx_bridge.calls.records import OfferRecord
from pbx_bridge.ring import RingConfig
from pbx_bridge.store.engine import async_engine, sync_engine
from pbx_bridge.rooms import upgrade
from pbx_bridge.callbacks.tables import callback_requests
from tests.conftest import make_call

CFG = CallbacksConfig(enabled=True, offer_after=60, idle_after=10, retry_after=300, max_attempts=2, dial_timeout=30,
                      poll_interval=1, max_parallel=2, customer_context="pbx-bridge-callback-customer")
RING = RingConfig(cadence="cn", two_rings="end_of_second_ring")
T0 = datetime.now(timezone.utc) - timedelta(minutes=10)


class Asterisk:
    """Answers the placer's actions like Asterisk 22 would; remembers every Originate."""

    def __init__(self, url, agents=("201", "202")):
        self.sync = sync_engine(url)
        self.members = {a: {"Status": "1", "Paused": "0"} for a in agents}
        self.waiting = 0
        self.answers = {a: "4" for a in agents}  # OriginateResponse Reason by agent: 4 answered, 3 no answer
        self.astdb: dict[str, str] = {}
        self.live: set[str] = set()
        self.originates: list[dict] = []
        self.hold: asyncio.Future | None = None  # set: Originates never get their answer (the daemon dies)
        self.state_at_originate: list[tuple] = []

    async def send(self, action, timeout):
        kind = action["Action"]
        if kind == "QueueStatus":
            return [{"Response": "Success"}, {"Event": "QueueParams", "Queue": action["Queue"], "Calls": str(self.waiting)},
                    *({"Event": "QueueMember", "Queue": action["Queue"], "Name": f"Agent {a}",
                       "Location": f"Local/{a}@agents/n", "InCall": "0", "LastCall": "0", **m}
                      for a, m in self.members.items()),
                    {"Event": "QueueStatusComplete"}]
        if kind == "Originate":
            self.originates.append(action)
            with self.sync.connect() as conn:  # what the store said when the Originate went out
                row = conn.execute(callback_requests.select()).mappings().all()
            attempt = next(v.split("=", 1)[1] for v in action["Variable"] if v.startswith("PBXB_CALLBACK_ATTEMPT="))
            self.state_at_originate.append((attempt, [(r["status"], r["attempt_id"]) for r in row]))
            if self.hold is not None:
                await self.hold
            agent = action["Channel"].split("/")[1].split("@")[0]
            reason = self.answers[agent]
            return [{"Response": "Success", "Message": "Originate successfully queued"},
                    {"Event": "OriginateResponse", "Response": "Success" if reason == "4" else "Failure",
                     "Reason": reason, "Channel": action["Channel"]}]
        if kind == "DBGet":
            if action["Key"] in self.astdb:
                return [{"Response": "Success"}, {"Event": "DBGetResponse", "Val": self.astdb[action["Key"]]}]
            return {"Response": "Error", "Message": "Database entry not found"}
        if kind == "CoreShowChannels":
            return [{"Response": "Success"}, *({"Event": "CoreShowChannel", "AccountCode": a} for a in self.live)]
        return {"Response": "Success"}

    def dialled(self):
        return [a["Exten"] for a in self.originates]


@pytest.fixture
async def env(sqlite_url):
    upgrade(sqlite_url)
    engine = async_engine(sqlite_url)
    asterisk = Asterisk(sqlite_url)
    records = []
    placers = []

    def make(busy=(), clock=None):
        placer = CallbackPlacer(CFG, "pbx1", engine, asterisk.send, records.append, RING, 6.0, lambda: 1,
                                lambda: set(busy), **({"clock": clock} if clock else {}))
        placers.append(placer)
        return placer

    yield engine, asterisk, make, records
    for placer in placers:
        for task in placer.tasks:
            task.cancel()
    asterisk.sync.dispose()
    await engine.dispose()


async def settle(placer):
    """Rounds of the task until no Originate is waiting for its answer."""
    await placer.step()
    while placer.tasks:
        await asyncio.gather(*placer.tasks)
        await placer.step()


def user_event(attempt, status, dial_status=""):
    return {"Event": "UserEvent", "UserEvent": "PbxBridgeCallback", "Attempt": attempt, "Status": status,
            "DialStatus": dial_status}


async def add(engine, uid, number, minutes_ago, queue="support"):
    rid, _ = await store.add_request(engine, "pbx1", uid, number, "", queue, 2, T0 - timedelta(minutes=minutes_ago))
    return rid


async def test_oldest_first_agent_rung_first_and_marked_dialling_before_the_originate(env):
    engine, asterisk, make, records = env
    young = await add(engine, "u2", "13900000002", 1)
    old = await add(engine, "u1", "13900000001", 5)
    now = [1000.0]
    placer = make(clock=lambda: now[0])
    asterisk.members["202"]["Status"] = "2"  # on a call: only 201 is idle
    await settle(placer)
    assert asterisk.dialled() == ["13900000001"], "the oldest request, one idle agent"
    action = asterisk.originates[0]
    assert action["Channel"] == "Local/201@agents/n" and action["Context"] == "pbx-bridge-callback-customer"
    attempt, rows = asterisk.state_at_originate[0]
    assert action["Timeout"] == "6000" and action["Account"] == f"cb-{attempt}" and attempt.startswith(f"{old}-1-")
    assert ("dialling", attempt) in rows, "write-ahead: dialling was committed before the Originate"
    offer = next(r for r in records if isinstance(r, OfferRecord))
    assert (offer.uniqueid, offer.offer_id, offer.agent, offer.result) == ("u1", f"cb-{attempt}", "Agent 201", "answered")
    placer.handle(user_event(attempt, "agent"))
    placer.handle(user_event(attempt, "answered"))
    placer.handle(user_event(attempt, "ended", "ANSWER"))
    await settle(placer)
    done = await store.get(engine, old)
    assert (done.status, done.attempts, done.result) == ("done", 0, "answered") and done.done_at is not None
    assert asterisk.dialled() == ["13900000001"], "202 is busy, 201 rests after the callback as after a queue call"
    assert (await store.get(engine, young)).status == "pending"
    now[0] += CFG.idle_after
    await settle(placer)
    assert asterisk.dialled() == ["13900000001", "13900000002"]


async def test_no_callback_while_callers_wait_or_while_the_customer_is_on_a_call(env):
    engine, asterisk, make, _ = env
    await add(engine, "u1", "13900000001", 5)
    asterisk.waiting = 1
    await settle(make())
    asterisk.waiting = 0
    await settle(make(busy={"13900000001"}))
    assert asterisk.dialled() == []
    await settle(make())
    assert asterisk.dialled() == ["13900000001"]


async def test_agent_not_answering_passes_the_request_to_another_agent_without_costing_an_attempt(env):
    engine, asterisk, make, records = env
    rid = await add(engine, "u1", "13900000001", 5)
    asterisk.answers["201"] = "3"
    placer = make()
    await settle(placer)  # 201 rings out; in the same round the request goes to 202 at once
    assert [a["Channel"] for a in asterisk.originates] == ["Local/201@agents/n", "Local/202@agents/n"]
    assert asterisk.originates[1]["Account"].startswith(f"cb-{rid}-2-")
    after = await store.get(engine, rid)
    assert (after.status, after.attempts, after.result, after.agent) == ("dialling", 0, "agent-no-answer", "Agent 202")
    assert [r.result for r in records if isinstance(r, OfferRecord)] == ["no-answer", "answered"], "ring-twice counts"
    asterisk.answers["202"] = "3"
    for _ in range(2):
        await settle(placer)
    assert len(asterisk.originates) == 2, "both agents just missed it: neither is rung again for retry_after"


async def test_customer_not_answering_is_retried_later_then_failed(env):
    engine, asterisk, make, _ = env
    rid = await add(engine, "u1", "13900000001", 5)
    placer = make()
    await settle(placer)
    placer.handle(user_event((await store.get(engine, rid)).attempt_id, "ended", "NOANSWER"))
    await settle(placer)
    first = await store.get(engine, rid)
    assert (first.status, first.attempts, first.result) == ("pending", 1, "customer-noanswer")
    assert first.next_try_at > datetime.now(timezone.utc) + timedelta(seconds=290)
    assert asterisk.dialled() == ["13900000001"], "not before retry_after"
    with asterisk.sync.begin() as conn:
        conn.execute(update(callback_requests).values(next_try_at=None))
    await settle(placer)
    placer.handle(user_event((await store.get(engine, rid)).attempt_id, "ended", "BUSY"))
    await settle(placer)
    last = await store.get(engine, rid)
    assert (last.status, last.attempts, last.result) == ("failed", 2, "customer-busy")
    await settle(placer)
    assert asterisk.dialled() == ["13900000001"] * 2


async def test_an_answered_inbound_call_closes_the_request(env):
    engine, asterisk, make, _ = env
    rid = await add(engine, "u1", "13900000001", 5)
    placer = make()
    asterisk.waiting = 1
    placer.on_record(make_call("in-1", caller_num="13900000001", outcome="abandoned",
                               joined_at=datetime.now(timezone.utc)))
    await settle(placer)
    assert (await store.get(engine, rid)).status == "pending", "an unanswered call closes nothing"
    placer.on_record(make_call("in-2", caller_num="13900000001", joined_at=datetime.now(timezone.utc), wait_s=3))
    await settle(placer)
    assert (await store.get(engine, rid)).status == "answered-inbound"
    asterisk.waiting = 0
    await settle(placer)
    assert asterisk.dialled() == []


async def killed_while_dialling(engine, asterisk, make, age_s=60):
    """A daemon placed the request, then died before seeing anything; its attempt is `age_s` old."""
    rid = await add(engine, "u1", "13900000001", 5)
    asterisk.hold = asyncio.get_running_loop().create_future()
    first = make()
    await first.step()
    await asyncio.sleep(0)
    for task in first.tasks:
        task.cancel()
    asterisk.hold = None
    with asterisk.sync.begin() as conn:
        conn.execute(update(callback_requests).values(
            last_attempt_at=(datetime.now(timezone.utc) - timedelta(seconds=age_s)).replace(tzinfo=None)))
    assert asterisk.dialled() == ["13900000001"]
    return rid, (await store.get(engine, rid)).attempt_id


async def test_restart_while_the_call_goes_on_does_not_dial_again(env):
    engine, asterisk, make, _ = env
    rid, attempt = await killed_while_dialling(engine, asterisk, make)
    asterisk.live.add(f"cb-{attempt}")
    second = make()
    for _ in range(3):
        await settle(second)
    assert asterisk.dialled() == ["13900000001"] and (await store.get(engine, rid)).status == "dialling"
    second.handle(user_event(attempt, "answered"))  # the attempt's events still reach the new daemon
    await settle(second)
    assert (await store.get(engine, rid)).status == "done"


@pytest.mark.parametrize("astdb,status,attempts,dials", [
    ("answered", "done", 0, 1),        # reached while we were down
    ("agent", "pending", 1, 1),        # agent answered, customer did not: an attempt, retried later
    (None, "pending", 0, 2),           # the agent's phone never answered: placed again at once
])
async def test_restart_after_the_attempt_ended(env, astdb, status, attempts, dials):
    engine, asterisk, make, _ = env
    rid, attempt = await killed_while_dialling(engine, asterisk, make)
    if astdb:
        asterisk.astdb[attempt] = astdb
    second = make()
    await settle(second)
    request = await store.get(engine, rid)
    assert (request.status if dials == 1 else "pending", request.attempts) == (status, attempts)
    assert len(asterisk.dialled()) == dials
    if dials == 2:
        assert asterisk.originates[1]["Account"].startswith(f"cb-{rid}-2-")


async def test_a_young_attempt_with_no_trace_yet_is_not_declared_dead(env):
    engine, asterisk, make, _ = env
    rid, _ = await killed_while_dialling(engine, asterisk, make, age_s=0)
    await settle(make())
    assert (await store.get(engine, rid)).status == "dialling" and len(asterisk.dialled()) == 1
