"""Ring-twice (rules §1) as AGI commands, shared by the FastAGI route and the classic script.

Two places in the dialplan call it, told apart by the first AGI argument:
- `inbound`: the caller hears ringing for "two rings" (config ring.two_rings) before the center
  answers: `Ringing`, then `Wait` for that long. The dialplan answers afterwards.
- `agent`: the agent's phone may ring for two rings at most: the AGI sets PBXB_RING_TIMEOUT
  (whole seconds, rounded up so that the second ring is never cut short), which the agent leg
  uses as its Dial timeout.
Both set PBXB_RING_TWICE=ok so the dialplan can tell that the rule was applied (and fall back to
its own defaults when the AGI could not be reached).
"""

from __future__ import annotations

import math

from pbx_bridge.ring import RingConfig, two_rings_s

ROLES = ("inbound", "agent")


class UnknownRole(ValueError):
    pass


def plan(role: str, ring: RingConfig) -> list[str]:
    """The AGI command lines to send, in order."""
    seconds = two_rings_s(ring)
    if role == "inbound":
        return [
            "EXEC Ringing",
            f"EXEC Wait {seconds:g}",
            "SET VARIABLE PBXB_RING_TWICE ok",
        ]
    if role == "agent":
        return [
            f"SET VARIABLE PBXB_RING_TIMEOUT {math.ceil(seconds)}",
            "SET VARIABLE PBXB_RING_TWICE ok",
        ]
    raise UnknownRole(f"unknown ring_twice role {role!r}: use one of {', '.join(ROLES)}")
