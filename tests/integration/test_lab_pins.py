"""One lock-out for every PIN menu, in the lab: a SIPp phone guesses at *86 (voicemail), and *81
(agent log-in) is locked too, for that phone and for the 工号 whose PIN was guessed."""

from __future__ import annotations

import pytest

from lab.sipp import sipp_menu
from pbx_bridge.rota.model import hash_pin
from tests.integration.test_lab_agents import agi_commands, members
from tests.support.daemon import DaemonProcess

pytestmark = pytest.mark.lab

PIN_301, PIN_302 = "739182", "528461"


def rota_yaml() -> str:
    # the one listening is late in the evening: the duty caller rings nobody during the test
    agents = [f'{{employee_no: "0301", name: 彭建华, endpoint: PJSIP/agent301, pin_hash: "{hash_pin(PIN_301)}"}}',
              f'{{employee_no: "0302", name: 戴玲, endpoint: PJSIP/agent302, pin_hash: "{hash_pin(PIN_302)}"}}']
    return ("start: 2026-01-05\ntimezone: Asia/Shanghai\ncalendar: weekdays\n"
            "listenings: {first: \"23:55\", count: 1, interval_minutes: 1, round_gap_minutes: 0}\n"
            "companies:\n  - id: team\n    name: 上海静安有限公司\n"
            "    mailboxes: [\"8001@default\"]\n    queues: [lab-team]\n    agents:\n"
            + "".join(f"      - {a}\n" for a in agents))


def test_wrong_pins_at_the_voicemail_menu_lock_the_agent_log_in(lab, lab_ami, tmp_path):
    for name, member in members(lab_ami).items():  # an earlier test's member: she must log in here or not at all
        lab_ami.action("QueueRemove", Queue="lab-team", Interface=member.get("Location") or member.get("Interface"))
    rota = tmp_path / "rota.yaml"
    rota.write_text(rota_yaml(), encoding="utf-8")
    daemon = DaemonProcess(tmp_path, f"sqlite:///{tmp_path}/store.db",
                           voicemail={"enabled": True, "rota": str(rota),
                                      "spool_dir": str(lab.root / "var/spool/asterisk/voicemail"),
                                      "asterisk_spool_dir": "/var/spool/asterisk/voicemail"},
                           agents={"enabled": True, "pin_tries": 1, "lockout_after": 2, "lockout_for_s": 600}).start()
    lab_ami.events.clear()

    # *86 from agent301: two wrong PINs (a PIN not keyed in time counts as wrong too), then goodbye
    assert sipp_menu("*86", "2500:111111#,3500:222222#", from_user="agent301") == 0
    assert len(daemon.wait_for("voicemail_login_refused", count=2)) == 2
    daemon.wait_for("pin_menu_locked")

    # *81 from the same phone with 0301's right PIN: goodbye before any question
    sipp_menu("*81", "1500:0301#,1500:" + PIN_301 + "#", from_user="agent301")  # an early BYE: SIPp may say so
    daemon.wait_for("agent_login_locked")
    at_81 = agi_commands(lab_ami, "agent_login")[-1]
    assert not any(c.startswith("GET DATA") for c in at_81), at_81

    # *81 from another phone claiming 0301, with the right PIN: 0301 is locked as well
    assert sipp_menu("*81", "2500:0301#,2500:" + PIN_301 + "#", from_user="agent302") == 0
    daemon.wait_for("agent_login_refused")
    assert "彭建华" not in members(lab_ami)
    assert not [line for line in daemon.lines() if line.get("event") == "agent_logged_in"]
