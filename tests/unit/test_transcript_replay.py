"""Transcripts recorded from the lab replay into the records Asterisk's own queue_log implies."""

import json
from pathlib import Path

import pytest

from pbx_bridge.ami.transcript import replay
from pbx_bridge.calls.records import CallRecord, OfferRecord
from pbx_bridge.calls.tracker import WANTED_EVENTS, CallTracker
from pbx_bridge.ring import RingConfig
from tests.support import queue_log

TRANSCRIPTS = Path(__file__).parent.parent / "transcripts"
SCENARIOS = json.loads((TRANSCRIPTS / "scenarios.json").read_text())
LAB_OUTCOMES = {"ANSWERED": "answered", "ABANDON": "abandoned", "TIMEOUT": "timeout", "EXITEMPTY": "exitempty"}
CN = RingConfig(cadence="cn", two_rings="end_of_second_ring")


def run(name, chunk=4096):
    out = []
    tracker = CallTracker("pbx1", CN, out.append)
    replay((TRANSCRIPTS / f"{name}.ami").read_bytes(), tracker.handle, WANTED_EVENTS, chunk=chunk)
    calls = {r.uniqueid: r for r in out if isinstance(r, CallRecord)}
    offers = [r for r in out if isinstance(r, OfferRecord)]
    return calls, offers, tracker


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_queued_call_matches_asterisks_queue_log(name):
    calls, _, tracker = run(name)
    oracle = queue_log.parse((TRANSCRIPTS / f"{name}.queue_log").read_text().splitlines())
    assert set(calls) == set(oracle), "same calls"
    assert not tracker.active, "every call was closed"
    for callid, truth in oracle.items():
        record = calls[callid]
        assert record.outcome == truth.outcome, callid
        assert record.agent == truth.agent, callid
        assert record.wait_s == pytest.approx(truth.wait_s, abs=1.0), callid
        if truth.ended_by:
            assert record.ended_by == truth.ended_by, callid
        assert not record.incomplete


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_what_the_lab_did_is_what_was_recorded(name):
    calls, _, _ = run(name)
    for call in SCENARIOS[name]["calls"]:
        record = calls[call["callid"]]
        assert record.outcome == LAB_OUTCOMES[call["outcome"]], call["tag"]
        assert record.linkedid == call["linkedid"]
        assert record.caller_num == call["caller_num"]
        assert record.caller_name == call["caller_name"]
        assert record.queue == call["queue"]


def test_chinese_caller_name_is_recorded_intact_whatever_the_read_size():
    for chunk in (1, 7, 64, 4096):
        calls, _, _ = run("chinese_caller", chunk=chunk)
        assert [c.caller_name for c in calls.values()] == ["张三丰"]


def test_ring_no_answer_offer_then_next_agent_answers():
    calls, offers, _ = run("ring_no_answer")
    (call,) = calls.values()
    results = [(o.agent, o.result) for o in sorted(offers, key=lambda o: o.offered_at)]
    assert results == [("Agent 201", "no-answer"), ("Agent 202", "answered")]
    missed = offers[0] if offers[0].result == "no-answer" else offers[1]
    assert missed.ring_s == pytest.approx(4.0, abs=0.3)
    assert missed.rings == 1
    assert call.agent == "Agent 202"


def test_busy_member_offer_is_recorded_as_busy():
    _, offers, _ = run("busy_unavailable")
    by_agent = {o.agent: o.result for o in offers}
    assert by_agent["Agent 205"] == "busy"
    assert by_agent["Agent 206"] == "answered"


def test_timeout_and_exitempty_are_not_counted_as_abandons():
    """Asterisk 22 sends QueueCallerAbandon for both; QUEUESTATUS tells them apart."""
    (timeout,) = run("timeout")[0].values()
    (empty,) = run("exit_empty")[0].values()
    assert (timeout.outcome, timeout.ended_by) == ("timeout", "system")
    assert (empty.outcome, empty.ended_by) == ("exitempty", "system")


def test_unfiltered_stream_gives_the_same_records_as_the_filtered_one():
    filtered, _, _ = run("abandoned")
    out = []
    tracker = CallTracker("pbx1", CN, out.append)
    protocol = replay((TRANSCRIPTS / "abandoned.unfiltered.ami").read_bytes(), tracker.handle, WANTED_EVENTS)
    unfiltered = {r.uniqueid: r for r in out if isinstance(r, CallRecord)}
    assert [r.outcome for r in unfiltered.values()] == [r.outcome for r in filtered.values()]
    assert protocol.splitter.skipped > 50  # dropped before any parsing


def test_replaying_a_stream_twice_gives_identical_keys():
    first, first_offers, _ = run("mixed")
    second, second_offers, _ = run("mixed")
    assert first == second
    assert {(o.uniqueid, o.offer_id) for o in first_offers} == {(o.uniqueid, o.offer_id) for o in second_offers}


def test_a_ring_cut_by_the_callers_max_wait_is_not_the_agents_miss():
    _, offers, _ = run("timeout")
    by_ring = sorted((o.ring_s, o.result) for o in offers)
    assert by_ring[0][0] == pytest.approx(1.0, abs=0.1) and by_ring[0][1] == "caller-left"
    assert by_ring[-1][0] == pytest.approx(4.0, abs=0.1) and by_ring[-1][1] == "no-answer"


def test_a_ring_that_ran_out_before_the_queue_emptied_is_a_miss():
    (offer,) = run("exit_empty")[1]
    assert (offer.result, offer.ring_s) == ("no-answer", pytest.approx(4.0, abs=0.1))


def test_a_call_goes_out_with_the_time_of_the_event_that_finished_it():
    seen = []
    tracker = CallTracker("pbx1", CN, lambda record: seen.append((record, tracker.event_ts)))
    replay((TRANSCRIPTS / "mixed.ami").read_bytes(), tracker.handle, WANTED_EVENTS)
    calls = [(r, ts) for r, ts in seen if isinstance(r, CallRecord)]
    assert calls and tracker.event_ts is None  # only set while an event is being handled
    for record, ts in calls:
        assert ts is not None and ts >= record.joined_at.timestamp() + (record.wait_s or 0) + (record.talk_s or 0) - 0.01


def test_a_call_closed_by_the_sweeper_has_no_finishing_event():
    seen = []
    tracker = CallTracker("pbx1", CN, lambda record: seen.append(tracker.event_ts), stale_after=60)
    tracker.handle({"Event": "QueueCallerJoin", "Uniqueid": "1.1", "Queue": "support", "Timestamp": "1000.0"})
    tracker.sweep(now=2000.0)
    assert seen == [None]
