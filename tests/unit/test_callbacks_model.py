"""Callback decisions: who gets a request, which agent is idle, which request goes first, what an
attempt's end (or a restart) means for the request."""

from datetime import datetime, timedelta, timezone

import pytest

from pbx_bridge.callbacks import model
from pbx_bridge.callbacks.model import Member, QueueView, Request

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)


def request(rid, queue="support", minutes_ago=10, **over):
    return Request(id=rid, pbx="pbx1", uniqueid=f"u{rid}", number=f"1380000000{rid}", queue=queue,
                   requested_at=NOW - timedelta(minutes=minutes_ago), **over)


@pytest.mark.parametrize("raw,expected", [
    ("13800138000", "13800138000"), ("+8613800138000", "+8613800138000"), (" 021 ", "021"),
    ("", None), (None, None), ("unknown", None), ("anonymous", None), ("12", None), ("1380-0138", None)])
def test_only_a_callable_number_is_kept(raw, expected):
    assert model.usable_number(raw) == expected


def test_pressing_1_before_the_offer_puts_the_caller_back_whoever_they_are():
    assert model.offer_answer(True, 30, 60, "13800138000") == "early"
    assert model.offer_answer(True, 30, 60, None) == "early"
    assert model.offer_answer(True, 61, 60, None) == "anonymous"
    assert model.offer_answer(True, 61, 60, "13800138000") == "accepted"
    assert model.offer_answer(False, 600, 60, "13800138000") == "disabled"


def test_a_press_whose_wait_is_unknown_is_refused_whoever_calls():
    """No join seen (a forged session, a call from before a restart): never a request."""
    assert model.offer_answer(True, None, 60, "13800138000") == "unknown"
    assert model.offer_answer(True, None, 0, "13800138000") == "unknown"
    assert model.offer_answer(True, None, 60, None) == "unknown"


def member(name, status="1", paused="0", incall="0", lastcall="0", wrapup="0"):
    return {"Event": "QueueMember", "Queue": "support", "Name": name, "Location": f"Local/{name}@agents/n",
            "Status": status, "Paused": paused, "InCall": incall, "LastCall": lastcall, "Wrapuptime": wrapup}


def test_idle_means_free_not_paused_not_on_a_call_and_rested():
    now = 1_800_000_000.0
    view = model.read_queue("support", [
        {"Event": "QueueParams", "Queue": "support", "Calls": "0"},
        member("free-long", lastcall=str(now - 600)),
        member("free-never"),
        member("just-hung-up", lastcall=str(now - 3)),
        member("wrapping-up", lastcall=str(now - 20), wrapup="30"),
        member("paused", paused="1"),
        member("ringing", status="6"),
        member("in-use", status="2"),
        member("on-queue-call", incall="1"),
        member("unregistered", status="5"),
        member("unknown-state", status="0"),
    ], now, idle_after=10)
    assert view.waiting == 0
    assert [m.name for m in view.idle] == ["free-never", "free-long"], "longest idle first"


def test_callers_waiting_are_counted():
    view = model.read_queue("support", [{"Event": "QueueParams", "Calls": "2"}, member("a")], 0, 0)
    assert view.waiting == 2 and [m.name for m in view.idle] == ["a"]


A, B = Member("A", "Local/a@agents/n"), Member("B", "Local/b@agents/n")


def test_oldest_request_first_one_agent_each():
    views = {"support": QueueView("support", 0, [A, B])}
    pairs = model.assign([request(1, minutes_ago=30), request(2, minutes_ago=20), request(3, minutes_ago=10)],
                         views, set(), {}, slots=5)
    assert [(r.id, m.name) for r, m in pairs] == [(1, "A"), (2, "B")]


def test_a_queue_with_callers_waiting_gets_no_callback_the_quiet_queue_does():
    views = {"support": QueueView("support", 1, [A]), "sales": QueueView("sales", 0, [A])}
    pairs = model.assign([request(1, "support", 30), request(2, "sales", 10)], views, set(), {}, slots=2)
    assert [(r.id, m.name) for r, m in pairs] == [(2, "A")]


def test_busy_agents_slots_and_an_agent_who_just_missed_this_request():
    views = {"support": QueueView("support", 0, [A, B])}
    assert model.assign([request(1)], views, {A.interface}, {}, 2)[0][1] == B
    assert model.assign([request(1)], views, set(), {1: {A.interface}}, 2)[0][1] == B
    assert model.assign([request(1)], views, {B.interface}, {1: {A.interface}}, 2) == []
    assert len(model.assign([request(1), request(2)], views, set(), {}, 1)) == 1


def test_due_waits_for_the_retry_time():
    assert request(1).due(NOW)
    assert not request(1, next_try_at=NOW + timedelta(seconds=1)).due(NOW)
    assert not request(1, status=model.DIALLING).due(NOW)


@pytest.mark.parametrize("astdb,live,expected", [
    ("answered", False, model.ANSWERED), ("answered", True, model.ANSWERED),
    ("agent", True, model.IN_PROGRESS), (None, True, model.IN_PROGRESS),
    ("agent", False, model.CUSTOMER_NOT_REACHED), (None, False, model.AGENT_NOT_REACHED)])
def test_what_a_restarted_daemon_concludes(astdb, live, expected):
    assert model.recovered_outcome(astdb, live) == expected


def test_customer_not_reached_retries_then_fails():
    first = model.after_attempt(request(1, attempts=0), model.CUSTOMER_NOT_REACHED, NOW, 300, 3, "NOANSWER")
    assert first == {"status": "pending", "attempts": 1, "result": "customer-noanswer",
                     "next_try_at": NOW + timedelta(seconds=300)}
    last = model.after_attempt(request(1, attempts=2), model.CUSTOMER_NOT_REACHED, NOW, 300, 3, "BUSY")
    assert last["status"] == "failed" and last["attempts"] == 3 and last["done_at"] == NOW


def test_agent_not_reached_costs_the_customer_no_attempt_and_no_wait():
    values = model.after_attempt(request(1, attempts=1), model.AGENT_NOT_REACHED, NOW, 300, 3)
    assert values == {"status": "pending", "result": "agent-noanswer", "next_try_at": None}
    assert model.after_attempt(request(1), model.ANSWERED, NOW, 300, 3)["status"] == "done"
    with pytest.raises(ValueError):
        model.after_attempt(request(1), model.IN_PROGRESS, NOW, 300, 3)


def test_attempt_ids_name_their_request():
    key = model.attempt_key(17, 3, "9f0a")
    assert key == "17-3-9f0a" and model.request_of(key) == 17 and model.account_code(key) == "cb-17-3-9f0a"
    assert model.request_of("garbage") is None
