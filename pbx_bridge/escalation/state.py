"""The ladder's state in a file: what `pbx-bridge escalation status` reads, and what a restarted
daemon takes back (which steps hold and which members it added), so that it neither adds a
supervisor twice nor forgets to remove one.

A file rather than a question to the daemon or to Asterisk: the CLI then needs no AMI login and
no open port, and answers even while the AMI link is down (the file says when it was written).
Written whole to a temporary file and renamed, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import structlog

from pbx_bridge.escalation.ladder import Escalator, StepState

log = structlog.get_logger(__name__)

VERSION = 1


def snapshot(escalator: Escalator, now_wall: float | None = None) -> dict:
    queues = {}
    for queue, ladder in escalator.queues.items():
        step = ladder.step(ladder.level) if ladder.level else None
        queues[queue] = {
            "step": ladder.level,
            "step_name": step.name if step else "",
            "steps": [{"name": s.name, "waiting": s.waiting, "longest_wait": s.longest_wait,
                       "service_level_below": s.service_level_below,
                       "add": [a.member for a in s.add],
                       "priority": s.priority.level if s.priority else None,
                       "callback_offer_after": s.callback_offer_after}
                      for s in ladder.ladder.steps],
            "active": [{"added": dict(state.added), "leaving": state.leaving} for state in ladder.active],
            "calm_for": ladder.ladder.calm_for,
            "calm_for_so_far": (None if ladder.calm_since is None
                                else round(escalator.clock() - ladder.calm_since, 1)),
            "reason": ladder.reason,
            "known": ladder.figures.known,
            "figures": ladder.last.as_dict(),
        }
    return {"version": VERSION, "pbx": escalator.pbx, "written_at": time.time() if now_wall is None else now_wall,
            "interval": escalator.cfg.interval, "queues": queues}


def write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".escalation-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def restore(escalator: Escalator, data: dict | None) -> int:
    """Take back the steps a previous run held, for the queues whose ladder has not changed shape.
    The number of queues restored."""
    if not data or data.get("version") != VERSION or data.get("pbx") != escalator.pbx:
        return 0
    restored = 0
    for queue, saved in (data.get("queues") or {}).items():
        ladder = escalator.queues.get(queue)
        active = saved.get("active") or []
        if ladder is None or not active:
            continue
        if [s["name"] for s in saved.get("steps", [])] != [s.name for s in ladder.ladder.steps]:
            log.warning("escalation_state_not_restored", queue=queue, reason="the ladder changed")
            continue
        ladder.active = [StepState(added=dict(item.get("added") or {}), leaving=bool(item.get("leaving")))
                         for item in active[:len(ladder.ladder.steps)]]
        ladder.reason = saved.get("reason") or ""
        restored += 1
        log.info("escalation_state_restored", queue=queue, step=ladder.level)
    return restored
