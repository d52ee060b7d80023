"""The ring-twice room: the AGI route that sets the two rings, and the rule that pauses an agent
who missed too many offers in a row (the wallboard hears of it through `core.live`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx_bridge.calls.records import OfferRecord
from pbx_bridge.ring_twice.route import ring_twice
from pbx_bridge.ring_twice.rule import RingTwiceRule

if TYPE_CHECKING:
    from pbx_bridge.core import Core


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return True


def wire(core: Core) -> RingTwiceRule:
    async def pause_member(interface: str, reason: str) -> None:
        """QueuePause without a queue: the member is paused in every queue it belongs to."""
        reply = await core.send_action(
            {"Action": "QueuePause", "Interface": interface, "Paused": "true", "Reason": reason}, timeout=10)
        if not reply.success:
            raise RuntimeError(f"QueuePause refused: {reply.get('message')}")

    rule = RingTwiceRule(core.cfg.ring.misses_before_pause, pause_member, [core.live.on_notice])
    core.on_record(lambda record: rule.on_offer(record) if isinstance(record, OfferRecord) else None)
    core.add_route("ring_twice", ring_twice(core.cfg))
    core.add_task("ring-twice", rule.run)
    core.add_health("ring_twice", rule.health)
    return rule
