"""The figures a ladder is judged on, and which step they call for. No I/O: replayed in the tests.

A queue's figures come from two accounts that agree: the AMI events (a caller joins, leaves) keep
them current between looks, and each QueueStatus (every `interval` s) sets them to what Asterisk
holds, so a missed event (an AMI gap) costs one interval at most. The service level comes from the
call records, the same figures the reports are made of.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pbx_bridge.escalation.settings import Step

# app_queue member Status (device state): 2 in use, 3 busy, 6 ringing, 7 ring+in use, 8 on hold
ON_A_CALL = frozenset({"2", "3", "6", "7", "8"})
COUNTED = frozenset({"answered", "abandoned", "timeout", "exitempty", "exitkey", "transferred"})


@dataclass(frozen=True)
class Figures:
    waiting: int = 0
    longest_wait: float = 0.0
    service_level: float | None = None  # None: no call ended in the window
    calls_in_window: int = 0

    def as_dict(self) -> dict:
        return {"waiting": self.waiting, "longest_wait": round(self.longest_wait, 1),
                "service_level": None if self.service_level is None else round(self.service_level, 3),
                "calls_in_window": self.calls_in_window}


def reasons(step: Step, figures: Figures) -> list[str]:
    """Each threshold of `step` the figures reach, in words ([] = the step is not called for)."""
    out = []
    if step.waiting is not None and figures.waiting >= step.waiting:
        out.append(f"waiting {figures.waiting} >= {step.waiting}")
    if step.longest_wait is not None and figures.longest_wait >= step.longest_wait:
        out.append(f"longest wait {figures.longest_wait:.0f} s >= {step.longest_wait:g} s")
    if (step.service_level_below is not None and figures.service_level is not None
            and figures.service_level < step.service_level_below):
        out.append(f"service level {figures.service_level:.0%} < {step.service_level_below:.0%}")
    return out


def called_for(steps: Iterable[Step], figures: Figures) -> int:
    """How many steps the figures call for: the highest step with a threshold reached (0: none)."""
    level = 0
    for i, step in enumerate(steps, start=1):
        if reasons(step, figures):
            level = i
    return level


@dataclass
class Member:
    interface: str
    status: str = ""
    in_call: bool = False

    @property
    def busy(self) -> bool:
        """On a call, or being offered one: removing it now would cut a caller off."""
        return self.in_call or self.status in ON_A_CALL


@dataclass
class QueueFigures:
    """One queue's live account: who waits since when, who is a member, and the recent calls."""

    service_level_s: float
    window_s: float
    waiting: dict[str, float] = field(default_factory=dict)  # uniqueid -> joined (clock s)
    callers: dict[str, tuple[str, str]] = field(default_factory=dict)  # uniqueid -> (channel, caller ID)
    members: dict[str, Member] = field(default_factory=dict)
    ended: deque = field(default_factory=deque)  # (clock s, answered within service level)
    known: bool | None = None  # does Asterisk have this queue? None: not asked yet

    def joined(self, uniqueid: str, now: float, channel: str = "", number: str = "") -> None:
        self.waiting.setdefault(uniqueid, now)
        self.callers[uniqueid] = (channel, number)

    def left(self, uniqueid: str) -> None:
        self.waiting.pop(uniqueid, None)
        self.callers.pop(uniqueid, None)

    def call_ended(self, outcome: str, wait_s: float | None, now: float) -> None:
        if outcome not in COUNTED:
            return
        within = outcome == "answered" and wait_s is not None and wait_s <= self.service_level_s
        self.ended.append((now, within))

    def status(self, messages: Iterable[Mapping], now: float) -> None:
        """A QueueStatus answer for this queue replaces the callers and members we knew."""
        waiting: dict[str, float] = {}
        callers: dict[str, tuple[str, str]] = {}
        members: dict[str, Member] = {}
        seen_queue = False
        for message in messages:
            event = (message.get("Event") or "").lower()
            if event == "queueparams":
                seen_queue = True
            elif event == "queueentry" and message.get("Uniqueid"):
                try:
                    wait = float(message.get("Wait") or 0)
                except ValueError:
                    wait = 0.0
                uniqueid = message["Uniqueid"]
                waiting[uniqueid] = min(now - wait, self.waiting.get(uniqueid, now))
                callers[uniqueid] = (message.get("Channel") or "", message.get("CallerIDNum") or "")
            elif event == "queuemember":
                interface = message.get("Location") or message.get("Interface") or message.get("StateInterface") or ""
                if interface:
                    members[interface] = Member(interface, str(message.get("Status") or ""),
                                                str(message.get("InCall") or "0") == "1")
        self.known = seen_queue
        if seen_queue:
            self.waiting, self.callers, self.members = waiting, callers, members

    def figures(self, now: float) -> Figures:
        while self.ended and now - self.ended[0][0] > self.window_s:
            self.ended.popleft()
        total = len(self.ended)
        level = sum(1 for _, within in self.ended if within) / total if total else None
        longest = max((now - joined for joined in self.waiting.values()), default=0.0)
        return Figures(len(self.waiting), max(longest, 0.0), level, total)
