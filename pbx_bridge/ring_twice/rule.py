"""Ring-twice enforcement: an agent who misses N offers in a row is paused (rules §1).

Asterisk's own autopause pauses on the first miss, which centers find too blunt; here the count is
configurable (ring.misses_before_pause, default 2) and only real misses count: a ring cut short
because the caller left or another agent answered is not the agent's fault. Unpausing stays a
person's act: nothing here ever unpauses.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Awaitable, Callable

import structlog

from pbx_bridge.calls.records import OfferRecord

log = structlog.get_logger(__name__)

PAUSE_REASON = "ring-no-answer"
Pause = Callable[[str, str], Awaitable[None]]
Notice = Callable[[dict], None]


@dataclass
class PauseRequest:
    interface: str
    agent: str | None
    misses: int


class RingTwiceRule:
    def __init__(self, misses_before_pause: int, pause: Pause, notices: list[Notice] | None = None) -> None:
        self.limit = misses_before_pause
        self.pause = pause
        self.notices = notices if notices is not None else []
        self.streaks: dict[str, int] = {}
        self.requests: asyncio.Queue[PauseRequest] = asyncio.Queue()
        self.paused = 0
        self.failed = 0

    def on_offer(self, offer: OfferRecord) -> None:
        """Called for every closed offer; never waits (the AMI path must not block)."""
        if not self.limit or not offer.interface:
            return
        if offer.result == "answered":
            self.streaks.pop(offer.interface, None)
        elif offer.result == "no-answer":
            streak = self.streaks.get(offer.interface, 0) + 1
            self.streaks[offer.interface] = streak
            if streak >= self.limit:
                self.streaks.pop(offer.interface, None)
                self.requests.put_nowait(PauseRequest(offer.interface, offer.agent, streak))

    def health(self) -> dict:
        return {"misses_before_pause": self.limit, "streaks": len(self.streaks), "paused": self.paused,
                "pause_failures": self.failed, "queued": self.requests.qsize()}

    async def run(self) -> None:
        """Carry out pause requests, one at a time, off the event path."""
        while True:
            request = await self.requests.get()
            try:
                await self.pause(request.interface, PAUSE_REASON)
            except Exception as exc:  # noqa: BLE001 - AMI down or refusing: report, keep serving
                self.failed += 1
                log.error("ring_twice_pause_failed", interface=request.interface, agent=request.agent,
                          error=repr(exc)[:200])
                continue
            self.paused += 1
            notice = {"type": "ring-twice-pause", "agent": request.agent, "interface": request.interface,
                      "misses": request.misses, "reason": PAUSE_REASON}
            log.warning("agent_paused_ring_no_answer", agent=request.agent, interface=request.interface,
                        misses=request.misses)
            for publish in self.notices:
                publish(notice)
