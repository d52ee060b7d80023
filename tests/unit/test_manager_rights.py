"""The shipped AMI user may do exactly what the daemon does: every action it sends is allowed, and
no right is granted that none of them needs (above all `command`: any CLI command at all)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "dialplan" / "manager_pbx_bridge.conf"

# Asterisk 22: the write classes an action is registered with (main/manager.c, main/db.c,
# apps/app_queue.c); any one of them lets a user send it, none listed: anyone logged in may.
AUTHORITY = {
    "login": set(), "ping": set(), "queuestatus": set(), "queues": set(), "queuesummary": set(),
    "queueadd": {"agent"}, "queueremove": {"agent"}, "queuepause": {"agent"},
    "queuechangeprioritycaller": set(),  # registered with no class (`manager show command`, Asterisk 22)
    "originate": {"originate"},
    "dbget": {"system", "reporting"}, "dbput": {"system"}, "dbdel": {"system"},
    "coreshowchannels": {"system", "reporting"}, "corestatus": {"system", "reporting"},
    "hangup": {"system", "call"}, "redirect": {"call"}, "setvar": {"call"}, "getvar": {"call", "reporting"},
    "userevent": {"user"}, "command": {"command"},
}


def _user_section(path: Path, name: str) -> dict[str, str]:
    section, values = None, {}
    for raw in path.read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            section = line[1:line.index("]")]
        elif section == name and "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            values[key] = value
    return values


def _actions_the_daemon_sends() -> set[str]:
    found = set()
    for source in (ROOT / "pbx_bridge").rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        found |= {name.lower() for name in re.findall(r"""["']Action["']\s*:\s*["'](\w+)["']""", text)}
        # the wire form is written "Action: X"; a lower-case `action: str` is a dataclass field
        found |= {name.lower() for name in re.findall(r"^\s*Action:\s*(\w+)", text, flags=re.M)}
    return found


def test_the_daemon_sends_no_cli_command():
    assert "command" not in _actions_the_daemon_sends()


def test_the_shipped_manager_user_may_do_exactly_what_the_daemon_does():
    sent = _actions_the_daemon_sends()
    assert {"login", "ping", "queuepause", "originate"} <= sent  # the scan found the daemon's actions
    unknown = sent - AUTHORITY.keys()
    assert not unknown, f"new AMI actions {unknown}: add their Asterisk write classes to AUTHORITY"
    granted = {c.strip() for c in _user_section(SHIPPED, "pbx-bridge")["write"].split(",")}

    def refused(rights: set[str]) -> set[str]:
        return {action for action in sent if AUTHORITY[action] and not AUTHORITY[action] & rights}

    assert refused(granted) == set()
    # every right granted is one some action cannot do without
    assert {right for right in granted if not refused(granted - {right})} == set()
    assert "command" not in granted and "all" not in granted
