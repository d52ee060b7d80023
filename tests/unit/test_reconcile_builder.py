"""Calls rebuilt from the lab's recorded queue_log agree with the records the AMI replay of the same calls gives."""

import json
from pathlib import Path

import pytest

from pbx_bridge.ami.transcript import replay
from pbx_bridge.calls.records import CallRecord, OfferRecord
from pbx_bridge.calls.tracker import WANTED_EVENTS, CallTracker
from pbx_bridge.reconcile.builder import CallBuilder
from pbx_bridge.reconcile.lines import parse_line
from pbx_bridge.ring import RingConfig

TRANSCRIPTS = Path(__file__).parent.parent / "transcripts"
SCENARIOS = sorted(json.loads((TRANSCRIPTS / "scenarios.json").read_text()))
CN = RingConfig(cadence="cn", two_rings="end_of_second_ring")


class Pos(int):
    @property
    def order(self):
        return (int(self),)


def from_ami(name):
    out = []
    replay((TRANSCRIPTS / f"{name}.ami").read_bytes(), CallTracker("pbx1", CN, out.append).handle, WANTED_EVENTS)
    return out


def from_queue_log(text, builder=None):
    builder = builder or CallBuilder("pbx1", CN)
    out = []
    for number, raw in enumerate(text.splitlines()):
        line = parse_line(raw, Pos(number))
        if line is not None:
            out.extend(builder.feed(line))
    return out, builder


def calls_of(records):
    return {r.uniqueid: r for r in records if isinstance(r, CallRecord)}


@pytest.mark.parametrize("name", SCENARIOS)
def test_queue_log_gives_the_calls_ami_gave(name):
    ami = calls_of(from_ami(name))
    records, builder = from_queue_log((TRANSCRIPTS / f"{name}.queue_log").read_text())
    rebuilt = calls_of(records)
    assert set(rebuilt) == set(ami)
    assert not builder.open
    for callid, truth in ami.items():
        call = rebuilt[callid]
        assert (call.outcome, call.agent, call.ended_by, call.queue) == (
            truth.outcome, truth.agent, truth.ended_by, truth.queue), callid
        assert call.wait_s == pytest.approx(truth.wait_s, abs=1.0), callid
        assert call.caller_num == truth.caller_num and call.caller_name == ""
        assert abs((call.joined_at - truth.joined_at).total_seconds()) < 1.0
        assert call.position == truth.position
        if truth.talk_s is not None:
            assert call.talk_s == pytest.approx(truth.talk_s, abs=1.0), callid
        assert (call.source, call.incomplete) == ("queue_log", False)


@pytest.mark.parametrize("name", SCENARIOS)
def test_offers_from_queue_log_agree_with_amis_where_queue_log_has_them(name):
    ami = [r for r in from_ami(name) if isinstance(r, OfferRecord)]
    rebuilt = [r for r in from_queue_log((TRANSCRIPTS / f"{name}.queue_log").read_text())[0]
               if isinstance(r, OfferRecord)]
    answered = {o.offer_id: o for o in ami if o.result == "answered"}
    for offer in rebuilt:
        if offer.result == "answered":  # the same key as AMI's: the agent channel's uniqueid
            assert offer.offer_id in answered
            assert offer.agent == answered[offer.offer_id].agent
            assert offer.ring_s == pytest.approx(answered[offer.offer_id].ring_s, abs=1.0)
        else:
            assert any(o.agent == offer.agent and o.result == offer.result
                       and abs((o.offered_at - offer.offered_at).total_seconds()) <= 2 for o in ami), offer


def test_a_ring_cut_by_the_callers_max_wait_is_not_the_agents_miss():
    offers = [r for r in from_queue_log((TRANSCRIPTS / "timeout.queue_log").read_text())[0]
              if isinstance(r, OfferRecord)]
    assert sorted((o.agent, o.result, o.ring_s) for o in offers) == [
        ("Agent 201", "caller-left", 1.0), ("Agent 202", "no-answer", 4.0)]


def test_a_busy_member_is_busy_and_rings_zero_times():
    offers = [r for r in from_queue_log((TRANSCRIPTS / "busy_unavailable.queue_log").read_text())[0]
              if isinstance(r, OfferRecord)]
    assert {(o.agent, o.result, o.rings) for o in offers} >= {("Agent 205", "busy", 0)}


def test_a_call_still_in_the_queue_is_held_and_marks_where_to_read_again():
    text = (TRANSCRIPTS / "mixed.queue_log").read_text().splitlines()
    records, builder = from_queue_log("\n".join(text[:10]))
    first_open = min(builder.open.values(), key=lambda e: e.line.time)
    assert builder.low_water() == first_open.line.pos
    assert all(r.uniqueid not in builder.open for r in records)


def test_a_call_whose_end_never_comes_is_forgotten_after_stale_after():
    builder = CallBuilder("pbx1", CN, stale_after=3600)
    builder.feed(parse_line("1000|1.1|support|NONE|ENTERQUEUE||138|1", Pos(0)))
    assert builder.expire(1000 + 3599) == 0 and builder.low_water() == Pos(0)
    assert builder.expire(1000 + 3601) == 1 and builder.low_water() is None


def test_asterisk_restarting_ends_the_calls_it_had_open():
    builder = CallBuilder("pbx1", CN)
    builder.feed(parse_line("1000|1.1|support|NONE|ENTERQUEUE||138|1", Pos(0)))
    builder.feed(parse_line("1100|NONE|NONE|NONE|QUEUESTART|", Pos(1)))
    assert not builder.open and builder.counts["unfinished"] == 1
    assert builder.feed(parse_line("1101|1.1|support|NONE|ABANDON|1|1|101", Pos(2))) == []
    assert builder.counts["orphans"] == 1


def test_exit_with_key_and_transfers_are_read():
    lines = """1000|1.1|support|NONE|ENTERQUEUE||unknown|1
1005|1.1|support|NONE|EXITWITHKEY|5|1|1|5
1000|2.1|support|NONE|ENTERQUEUE||139|1
1003|2.1|support|Agent 201|CONNECT|3|2.2|1
1010|2.1|support|Agent 201|BLINDTRANSFER|800|default|3|7|1
1000|3.1|support|NONE|ENTERQUEUE||137|2
1004|3.1|support|Agent 202|CONNECT|4|3.2|2
1020|3.1|support|Agent 202|ATTENDEDTRANSFER|BRIDGE|abc-123|4|16|1"""
    calls = calls_of(from_queue_log(lines)[0])
    assert (calls["1.1"].outcome, calls["1.1"].ended_by, calls["1.1"].wait_s, calls["1.1"].caller_num) == (
        "exitkey", "caller", 5.0, "")
    assert (calls["2.1"].outcome, calls["2.1"].ended_by, calls["2.1"].talk_s) == ("transferred", "transfer", 7.0)
    assert (calls["3.1"].outcome, calls["3.1"].agent, calls["3.1"].talk_s) == ("transferred", "Agent 202", 16.0)


@pytest.mark.parametrize("raw", [
    "", "garbage", "1000|1.1|support", "notanumber|1.1|support|NONE|ENTERQUEUE||138|1",
    "1000|1.1|support|NONE||x", "nan|1.1|q|NONE|ENTERQUEUE", "-5|1.1|q|NONE|ENTERQUEUE",
])
def test_a_malformed_line_is_refused_not_raised(raw):
    assert parse_line(raw) is None


def test_odd_data_in_well_formed_lines_never_raises():
    builder = CallBuilder("pbx1", CN)
    for raw in ("1000|1.1|q|NONE|ENTERQUEUE", "1001|1.1|q|A|CONNECT|x|y|z", "1002|1.1|q|A|RINGNOANSWER|",
                "1003|1.1|q|A|COMPLETECALLER", "1004|2.1|q|NONE|ENTERQUEUE||", "1005|2.1|q|NONE|ABANDON"):
        builder.feed(parse_line(raw))
    assert builder.counts["calls"] == 2
