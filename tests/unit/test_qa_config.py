"""Call monitoring's settings: a clear `file:line: key: problem` for each mistake an admin can make,
and the room wired by the daemon (with the rota and the one PIN gate) when it is on."""

from __future__ import annotations

import pytest
import yaml

from pbx_bridge.config import ConfigError, load_config
from pbx_bridge.daemon import Daemon
from pbx_bridge.rota.values import hash_pin
from tests.support.agi_peer import AGI_SECRET

PIN_HASH = hash_pin("246810")


def supervisor(**over) -> dict:
    return {"name": "王主管", "endpoint": "PJSIP/super601", "employee_no": "0601", "pin_hash": PIN_HASH,
            "companies": ["team"], **over}


def write(tmp_path, qa: dict, **more) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"ami": {"host": "127.0.0.1"}, "qa": qa, **more}, allow_unicode=True),
                    encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("qa", "problem"), [
    ({"enabled": True}, r"qa: enabled, but no supervisors"),
    ({"supervisors": [supervisor(), supervisor(employee_no="0602")]},
     r"qa: supervisors: endpoint PJSIP/super601 is given to two supervisors"),
    ({"supervisors": [supervisor(pin_hash="246810")]}, r"qa\.supervisors\[0\]\.pin_hash: not an argon2 hash"),
    ({"supervisors": [supervisor(endpoint="PJSIP/super,601")]}, r"qa\.supervisors\[0\]\.endpoint: String should match"),
    ({"supervisors": [supervisor(companies=[])]}, r"qa\.supervisors\[0\]\.companies: "),
    ({"alert_at_or_below": 6}, r"qa.alert_at_or_below: Input should be less than or equal to 5"),
])
def test_a_mistake_in_the_qa_section_names_the_file_line_and_key(tmp_path, qa, problem):
    path = write(tmp_path, qa)
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: {problem}"):
        load_config(path, env={})


def test_the_qa_room_is_wired_with_the_rota_and_the_pin_gate_when_on(tmp_path):
    rota = tmp_path / "rota.yaml"
    rota.write_text('start: 2026-01-05\ncalendar: weekdays\ncompanies:\n  - id: team\n    name: Team\n'
                    '    mailboxes: ["8001@default"]\n    agents:\n'
                    f'      - {{employee_no: "0301", name: A, endpoint: PJSIP/agent301, pin_hash: "{PIN_HASH}"}}\n',
                    encoding="utf-8")
    path = write(tmp_path, {"enabled": True, "supervisors": [supervisor()]},
                 store={"url": f"sqlite:///{tmp_path}/s.db", "spool_dir": str(tmp_path / "spool")},
                 voicemail={"rota": str(rota)}, reconcile={"enabled": False, "state_dir": str(tmp_path)},
                 agi={"port": 0, "secret": AGI_SECRET})
    daemon = Daemon(load_config(path, env={}), "s3cret")
    assert {"qa_spy", "qa_score"} <= set(daemon.agi.routes)
    assert daemon.core.pins is not None and "qa" in daemon.health()
    assert "agent_login" not in daemon.agi.routes, "agents stays off: only the rota and the PIN gate came with qa"
