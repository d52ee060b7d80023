"""Every PIN menu behind one lock-out, with argon2 off the event loop and bounded.

The menus are the daemon's own routes (built by `Daemon` from a config, as production builds them)
driven over FastAGI by the fake Asterisk peer.
"""

from __future__ import annotations

import asyncio
import threading

import argon2
import pytest
import yaml

from pbx_bridge.agi.server import FastAgiServer
from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.config import load_config
from pbx_bridge.daemon import Daemon
from pbx_bridge.pins import PinGate, PinLockout, Verdict
from pbx_bridge.rota.values import hash_pin
from pbx_bridge.rooms import upgrade
from tests.support.agi_peer import AGI_SECRET, AgiPeer

PIN_301, PIN_302 = "739182", "528461"
GOODBYE = 'STREAM FILE vm-goodbye ""'


def rota_yaml() -> str:
    agents = [f'{{employee_no: "0301", name: 彭建华, endpoint: PJSIP/agent301, pin_hash: "{hash_pin(PIN_301)}"}}',
              f'{{employee_no: "0302", name: 戴玲, endpoint: PJSIP/agent302, pin_hash: "{hash_pin(PIN_302)}"}}']
    return ("start: 2026-01-05\ncalendar: weekdays\ncompanies:\n  - id: team\n    name: Team\n"
            "    mailboxes: [\"8001@default\"]\n    queues: [support]\n    agents:\n"
            + "".join(f"      - {a}\n" for a in agents))


@pytest.fixture
async def menus(tmp_path):
    """The daemon's FastAGI routes (agents and voicemail on, lock after 2 wrong PINs), served on a free port."""
    rota = tmp_path / "rota.yaml"
    rota.write_text(rota_yaml(), encoding="utf-8")
    url = f"sqlite:///{tmp_path}/store.db"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "ami": {"host": "127.0.0.1", "port": 1}, "agi": {"port": 0, "secret": AGI_SECRET},
        "store": {"url": url, "spool_dir": str(tmp_path / "spool")},
        "reports": {"scheduler": False}, "reconcile": {"enabled": False, "state_dir": str(tmp_path / "state")},
        "voicemail": {"enabled": True, "rota": str(rota), "spool_dir": str(tmp_path / "vm")},
        "agents": {"enabled": True, "pin_tries": 1, "lockout_after": 2},
    }, allow_unicode=True))
    upgrade(url)
    daemon = Daemon(load_config(str(config), env={}), "s3cret")
    server = FastAgiServer(AgiConfig(host="127.0.0.1", port=0, header_timeout=1, command_timeout=2, max_sessions=5,
                                     secret=AGI_SECRET), daemon.agi.routes)
    task = asyncio.create_task(server.run())
    while not server.listening:
        await asyncio.sleep(0.01)

    async def dial(script: str, phone: str, **digits: str) -> list[str]:
        replies = {f"GET DATA {prompt}": f"200 result={typed}" for prompt, typed in
                   (("agent-user", digits.get("employee_no", "")), ("agent-pass", digits.get("pin", "")),
                    ("vm-password", digits.get("pin", "")))}
        peer = AgiPeer.fastagi(script, [], port=server.port, channel=f"PJSIP/{phone}-0000001a", replies=replies)
        return await asyncio.wait_for(peer.call_fastagi("127.0.0.1", server.port), 10)

    yield dial
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await daemon.engine.dispose()


def asked(commands: list[str]) -> bool:
    return any(c.startswith("GET DATA") for c in commands)


async def test_wrong_pins_at_the_voicemail_menu_lock_the_agent_log_in_for_that_phone_and_that_employee(menus):
    at_86 = await menus("voicemail_login", "agent301", pin="111111")  # 3 tries; the 2nd wrong PIN locks
    assert at_86.count('STREAM FILE vm-incorrect ""') == 2 and at_86[-1] == GOODBYE
    same_phone = await menus("agent_login", "agent301", employee_no="0301", pin=PIN_301)
    assert not asked(same_phone) and "SET VARIABLE PBXB_AGENT_LOGIN locked" in same_phone
    other_phone = await menus("agent_login", "agent302", employee_no="0301", pin=PIN_301)  # 0301 is locked
    assert "SET VARIABLE PBXB_AGENT_LOGIN refused" in other_phone
    assert "SET VARIABLE PBXB_AGENT_LOGIN ok" not in other_phone


async def test_wrong_pins_at_the_agent_log_in_lock_the_voicemail_menu_before_any_question(menus):
    for wrong in ("111111", "222222"):
        refused = await menus("agent_login", "agent302", employee_no="0302", pin=wrong)
        assert "SET VARIABLE PBXB_AGENT_LOGIN refused" in refused
    at_86 = await menus("voicemail_login", "agent302", pin=PIN_302)
    assert at_86 == ["ANSWER", GOODBYE]


async def test_an_unknown_phone_at_the_voicemail_menu_costs_a_hash_check_off_the_event_loop(menus, monkeypatch):
    checked_in: list[int] = []
    verify = argon2.PasswordHasher.verify

    def counting(self, hash_, password):
        checked_in.append(threading.get_ident())
        return verify(self, hash_, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting)
    stranger = await menus("voicemail_login", "intruder", pin=PIN_301)
    stranger_checks = len(checked_in)
    known = await menus("voicemail_login", "agent301", pin="111111")
    assert stranger_checks == len(checked_in) - stranger_checks == 2  # one (decoy) check per PIN, as for an agent
    assert stranger == known and stranger[-1] == GOODBYE
    assert threading.get_ident() not in checked_in  # never on the event loop's thread


class Blocking:
    """A verification that holds its worker thread until released; records where it ran."""

    def __init__(self):
        self.release = threading.Event()
        self.threads: list[int] = []
        self.started = threading.Semaphore(0)

    def __call__(self, pin_hash, pin):
        self.threads.append(threading.get_ident())
        self.started.release()
        self.release.wait(10)
        return pin == "1234" and pin_hash is not None


async def test_pin_checks_run_in_worker_threads_while_the_loop_keeps_serving():
    blocking = Blocking()
    gate = PinGate(PinLockout(100, 60, 60), concurrent=2, waiting=16, verify=blocking)
    checks = [asyncio.create_task(gate.check(f"PJSIP/p{i}", "0301", "hash", "1234")) for i in range(4)]
    ticks = 0
    while gate.health()["pin_checks_running"] < 2:  # two hashes are in progress ...
        await asyncio.sleep(0)
    for _ in range(5):  # ... and the loop still runs other coroutines meanwhile
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 5 and gate.health()["pin_checks_waiting"] == 2  # the other two wait for a slot
    blocking.release.set()
    assert await asyncio.gather(*checks) == [Verdict.OK] * 4
    assert threading.get_ident() not in blocking.threads


async def test_a_flood_of_pin_checks_beyond_the_waiting_bound_is_refused_unchecked_and_counted():
    blocking = Blocking()
    lockout = PinLockout(100, 60, 60)
    gate = PinGate(lockout, concurrent=2, waiting=16, verify=blocking)
    admitted = [asyncio.create_task(gate.check(f"PJSIP/p{i}", "0301", "hash", "0000")) for i in range(18)]
    while gate.health()["pin_checks_waiting"] < 16:
        await asyncio.sleep(0)
    over = await asyncio.gather(*(gate.check("PJSIP/flood", "0301", "hash", "0000") for _ in range(5)))
    assert over == [Verdict.BUSY] * 5
    assert gate.health()["pin_checks_refused_busy"] == 5
    assert not lockout.locked("phone:PJSIP/flood")  # unchecked: not a wrong PIN either
    blocking.release.set()
    assert await asyncio.gather(*admitted) == [Verdict.WRONG] * 18
    assert len(blocking.threads) == 18  # the refused ones were never hashed


async def test_a_caller_hanging_up_mid_check_keeps_the_slot_until_the_hash_ends():
    blocking = Blocking()
    gate = PinGate(PinLockout(100, 60, 60), concurrent=1, waiting=4, verify=blocking)
    first = asyncio.create_task(gate.check("PJSIP/a", "0301", "hash", "1234"))
    while gate.health()["pin_checks_running"] < 1:
        await asyncio.sleep(0)
    first.cancel()
    second = asyncio.create_task(gate.check("PJSIP/b", "0301", "hash", "1234"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(blocking.threads) == 1  # the second waits: the first thread still holds the slot
    blocking.release.set()
    assert await second is Verdict.OK
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_busy_gate_tells_the_voicemail_caller_to_try_later_without_asking_again(tmp_path):
    from tests.unit.test_voicemail_player import login_rota, login_session

    from pbx_bridge.voicemail.player import VoicemailPlayer
    from pbx_bridge.voicemail.spool import Spool

    blocking = Blocking()
    gate = PinGate(PinLockout(100, 60, 60), concurrent=1, waiting=0, verify=blocking)
    holder = login_rota(tmp_path, "2026-01-05")
    player = VoicemailPlayer("pbx1", Spool(tmp_path, "/var/spool/asterisk/voicemail"), [].append, "cb")
    hog = asyncio.create_task(gate.check("PJSIP/x", "", None, "1"))
    while gate.health()["pin_checks_running"] < 1:
        await asyncio.sleep(0)
    commands = await login_session(player, holder, "PJSIP/agent301-0000001a", {"GET DATA": "200 result=2468"}, gate)
    assert commands[-1] == 'STREAM FILE please-try-call-later ""'
    assert sum(c.startswith("GET DATA") for c in commands) == 1  # asked once, then told to try later
    assert gate.health()["pin_checks_refused_busy"] == 1
    blocking.release.set()
    assert await hog is Verdict.WRONG
