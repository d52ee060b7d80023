"""Incidents (rules §8) without Asterisk: conditions read from health and the live state, replayed
with a clock of our own; what each incident affected counted from the call records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pbx_bridge.incidents.model import Book
from pbx_bridge.incidents.records import IncidentRecord
from pbx_bridge.incidents.settings import IncidentsConfig
from pbx_bridge.incidents.watch import Watcher, in_shift
from pbx_bridge.live.state import LiveState
from pbx_bridge.rota.model import Rota
from pbx_bridge.rota.values import hash_pin
from tests.conftest import make_call

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC).timestamp()  # 10:00 in Shanghai, a Tuesday
TZ = ZoneInfo("Asia/Shanghai")
HASH = hash_pin("739182")


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


class Rig:
    def __init__(self, rota=None, **settings):
        self.clock = Clock()
        self.cfg = IncidentsConfig(**{"open_after_s": 4, "close_after_s": 10, "check_interval": 2,
                                      "sample_interval_s": 10, **settings})
        self.rows: list[IncidentRecord] = []
        self.told: list[dict] = []
        self.live = LiveState(TZ, clock=self.clock)
        self.book = Book("pbx1", self.cfg, self.rows.append, self.told.append, self.live.stand, self.live.clear,
                         tz=TZ, clock=self.clock)
        self.health = {"ami": {"connected": True}, "store": {"pending": 0, "spooled": 0, "last_error": None}}
        self.watcher = Watcher(self.book, self.cfg, TZ, 0.8, 20, lambda: self.health, self.live, lambda: rota,
                               default_queues=("support",), clock=self.clock)

    def run(self, seconds: float, step: float = 2) -> None:
        end = self.clock.now + seconds
        while self.clock.now < end:
            self.watcher.check()
            self.clock.now += step
        self.watcher.check()

    def latest(self, nature: str) -> IncidentRecord:
        return [r for r in self.rows if r.nature == nature][-1]

    def member(self, name: str, queue: str = "support", paused: bool = False) -> None:
        self.live.handle({"Event": "QueueMember", "Queue": queue, "Interface": f"Local/{name}", "Name": name,
                          "Status": "1", "Paused": "1" if paused else "0", "Timestamp": str(self.clock.now)})

    def caller(self, uniqueid: str, queue: str = "support") -> None:
        self.live.handle({"Event": "QueueCallerJoin", "Queue": queue, "Uniqueid": uniqueid, "CallerIDNum": "138",
                          "Timestamp": str(self.clock.now)})

    def leaves(self, uniqueid: str, queue: str = "support") -> None:
        self.live.handle({"Event": "QueueCallerLeave", "Queue": queue, "Uniqueid": uniqueid})


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def test_a_lost_database_opens_one_incident_from_the_first_failure_to_the_first_write():
    rig = Rig()
    rig.run(6)
    rig.health["store"] = {"pending": 12, "spooled": 40, "last_error": "OperationalError('down')"}
    down_at = rig.clock.now
    rig.run(60)
    assert len(rig.book.open) == 1 and rig.told[0]["type"] == "incident-opened"
    assert any(n["type"] == "incident" for n in rig.live.standing.values())
    rig.health["store"] = {"pending": 0, "spooled": 0, "last_error": None}
    back_at = rig.clock.now
    rig.run(30)
    row = rig.latest("database")
    assert row.started_at == at(down_at) and row.ended_at == at(back_at)
    assert row.duration_s == back_at - down_at and not rig.book.open and not rig.live.standing
    assert rig.told[-1]["type"] == "incident-closed" and len({r.incident_id for r in rig.rows}) == 1
    trend = json.loads(row.trend)
    assert trend[0]["spooled"] == 40 and len(trend) >= 6


def test_a_condition_shorter_than_open_after_opens_nothing():
    rig = Rig()
    rig.health["mqtt"] = {"connected": False}
    rig.run(2)
    rig.health["mqtt"] = {"connected": True}
    rig.run(20)
    assert rig.rows == [] and rig.told == []


def test_a_flapping_condition_stays_one_incident():
    rig = Rig()
    rig.health["mqtt"] = {"connected": False}
    rig.run(10)
    for _ in range(3):  # back for less than close_after_s, lost again
        rig.health["mqtt"] = {"connected": True}
        rig.run(4)
        rig.health["mqtt"] = {"connected": False}
        rig.run(4)
    assert len({r.incident_id for r in rig.rows}) == 1 and rig.book.open


def test_mqtt_is_watched_only_when_it_is_enabled():
    rig = Rig()
    rig.run(60)
    assert "mqtt" not in rig.book.open and rig.rows == []


def test_waiting_callers_with_every_agent_paused_open_and_close_an_incident_with_what_it_affected():
    rig = Rig()
    rig.member("201", paused=True)
    rig.member("202", paused=True)
    rig.caller("c1")
    rig.run(20)
    incident = rig.book.open["all-paused:support"]
    assert incident.queue == "support" and incident.agents == {"201", "202"}
    rig.member("202", paused=False)  # someone comes back
    rig.leaves("c1")
    rig.watcher.on_record(make_call("c1", joined_at=at(T0), wait_s=25, outcome="answered"))
    rig.run(20)
    row = rig.latest("all-paused")
    assert row.ended_at is not None and row.calls_affected == 1 and row.abandoned == 0
    assert row.agents_affected == 2 and row.calls_waiting == 1 and row.place == "pbx1 queue support"


def test_waiting_callers_and_no_member_is_a_no_agent_incident_but_an_empty_queue_is_not():
    rig = Rig()
    rig.run(10)
    rig.caller("c1", queue="sales")
    rig.run(10)
    assert set(rig.book.open) == {"no-agents:sales"}


def test_outside_the_rotas_shift_hours_an_unstaffed_queue_is_no_incident():
    rota = Rota.model_validate({"start": "2026-01-05", "calendar": "weekdays", "shifts": {"day": "08:00-09:00"},
                                "companies": [{"id": "team", "name": "Team", "mailboxes": ["8001"], "shift": "day",
                                               "agents": [{"employee_no": "0301", "name": "A",
                                                           "endpoint": "PJSIP/agent301", "pin_hash": HASH}]}]})
    rig = Rig(rota=rota)  # 10:00 local: after the shift
    rig.caller("c1")
    rig.run(20)
    assert not rig.book.open
    assert in_shift(rota, "support", datetime(2026, 12, 1, 8, 30, tzinfo=TZ), ("support",))
    assert not in_shift(rota, "support", datetime(2026, 12, 5, 8, 30, tzinfo=TZ), ("support",))  # a Saturday


def test_a_caller_waiting_past_the_limit_opens_a_long_wait_incident():
    rig = Rig(long_wait_s=60)
    rig.member("201")
    rig.caller("c1")
    rig.run(50)
    assert "long-wait:support" not in rig.book.open
    rig.run(20)
    incident = rig.book.open["long-wait:support"]
    assert incident.started == T0 + 60 and "waited" in incident.detail


def test_the_service_level_of_the_window_under_target_opens_and_the_window_sliding_closes_it():
    rig = Rig(service_level_window_s=300, service_level_min_calls=3)
    rig.member("201")
    for i in range(4):  # answered after 60 s: none timely
        rig.watcher.on_record(make_call(f"s{i}", joined_at=at(T0 - 100), wait_s=60, outcome="answered"))
    rig.run(10)
    assert "service-level:support" in rig.book.open
    assert "0% of 4 calls" in rig.book.open["service-level:support"].detail
    rig.run(400)
    assert "service-level:support" not in rig.book.open and rig.latest("service-level").ended_at is not None


def test_an_ami_gap_is_one_incident_with_the_calls_it_cut_and_the_recovery_actions():
    rig = Rig()
    rig.member("201")
    rig.caller("c1")
    rig.caller("c2")
    rig.run(4)
    rig.health["ami"] = {"connected": False}
    lost_at = rig.clock.now
    rig.run(30)
    # the queue checks are suspended while AMI is away: a stale live state opens nothing
    assert set(rig.book.open) == {"ami"}
    back_at = rig.clock.now
    rig.health["ami"] = {"connected": True}
    # at the login: the agents room repairs, then the core closes the calls of the gap
    assert rig.book.act("ami", None, {"action": "QueueAdd", "queue": "support", "agent": "201"}) is not None
    rig.watcher.on_record(make_call("c1", joined_at=at(T0), wait_s=None, incomplete=True, outcome="unknown"))
    # answered before the gap, talking when Asterisk went: closed as incomplete, no talk time
    rig.watcher.on_record(make_call("c3", joined_at=at(T0), wait_s=2, talk_s=None, incomplete=True))
    rig.book.end("ami", back_at)
    # queue_log, read back afterwards, tells that c2 abandoned during the gap
    rig.watcher.on_record(make_call("c2", joined_at=at(T0), wait_s=lost_at - T0 + 10, outcome="abandoned",
                                    source="queue_log", talk_s=None))
    rows = [r for r in rig.rows if r.nature == "ami"]
    row = rows[-1]
    assert len({r.incident_id for r in rows}) == 1
    assert row.started_at == at(lost_at) and row.duration_s == back_at - lost_at
    assert (row.calls_affected, row.abandoned, row.recorded_late) == (3, 1, 3)
    assert json.loads(row.actions)[0]["action"] == "QueueAdd" and row.calls_waiting == 2
    assert json.loads(row.agents) == ["201"]


def test_a_call_that_ended_before_an_incident_is_not_counted():
    rig = Rig()
    rig.health["ami"] = {"connected": False}
    rig.run(10)
    rig.watcher.on_record(make_call("old", joined_at=at(T0 - 3600), wait_s=5, talk_s=30))
    assert rig.book.open["ami"].affected == set()


def test_late_records_count_only_for_a_while_after_the_close():
    rig = Rig(attribute_after_s=60)
    rig.health["ami"] = {"connected": False}
    rig.run(10)
    rig.book.end("ami", rig.clock.now)
    rig.run(100)
    rig.watcher.on_record(make_call("late", joined_at=at(T0), wait_s=5, source="queue_log"))
    assert rig.latest("ami").calls_affected == 0


def test_contradicting_sampling_settings_are_refused():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="sample_interval_s"):
        IncidentsConfig(check_interval=30, sample_interval_s=10)


def test_calls_asterisk_hung_up_as_it_stopped_count_in_the_ami_incident():
    rig = Rig()
    rig.run(4)
    rig.health["ami"] = {"connected": False}
    lost_at = rig.clock.now
    rig.run(10)
    # hung up by `core stop now` a second before the manager connection closed
    rig.watcher.on_record(make_call("cut", joined_at=at(lost_at - 20), wait_s=19, outcome="abandoned", talk_s=None))
    rig.watcher.on_record(make_call("long-ago", joined_at=at(lost_at - 60), wait_s=5, talk_s=10))
    incident = rig.book.open["ami"]
    assert {key[0] for key in incident.affected} == {"cut"} and len(incident.abandoned) == 1


def test_calls_cut_before_the_ami_incident_opened_are_counted_when_it_opens():
    rig = Rig()
    rig.run(4)
    lost_at = rig.clock.now
    # Asterisk hangs up its calls as it stops; their records come before AMI is seen lost
    rig.watcher.on_record(make_call("cut", joined_at=at(lost_at - 3), wait_s=2, outcome="abandoned", talk_s=None))
    rig.clock.now += 1
    rig.health["ami"] = {"connected": False}
    rig.run(10)
    incident = rig.book.open["ami"]
    assert {key[0] for key in incident.affected} == {"cut"} and len(incident.abandoned) == 1
