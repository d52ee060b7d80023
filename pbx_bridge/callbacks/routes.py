"""FastAGI `callback_request`: a queued caller pressed 1 (the callback offer).

`agi://127.0.0.1:4573/callback_request,<queue>,<position>` from `[pbx-bridge-callback-offer]`,
where app_queue sent the caller with the position they left (QUEUEPOSITION). The route answers
in the channel variable PBXB_CALLBACK, and the dialplan acts on it:
- `accepted`: the request is stored (committed) before the caller hears the confirmation;
- `early` (pressed before `offer_after`), `unknown` (the call tracker never saw this call join:
  its wait is unknown, e.g. the daemon restarted meanwhile), `anonymous` (no number to call),
  `disabled`, `error`:
  the caller goes back into the queue at the same position, with what is left of their max
  wait in PBXB_REQUEUE_MAXWAIT. The wait counts from the call's first join, so an early press
  does not restart the caller's clock.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

import structlog

from pbx_bridge.agi.quoting import agi_command
from pbx_bridge.agi.server import AgiSession, Route
from pbx_bridge.callbacks import model, store
from pbx_bridge.callbacks.settings import CallbacksConfig
from pbx_bridge.numbers import DialplanName, InvalidValue, shown

log = structlog.get_logger(__name__)

DEFAULT_MAXWAIT_S = 600  # as the inbound dialplan's default
_FORGET_AFTER_S = 4 * 3600


def callback_request(cfg: CallbacksConfig, pbx: str, engine, joined_at: Callable[[str], float | None],
                     clock: Callable[[], float] = time.time,
                     offer_after: Callable[[str], float | None] = lambda queue: None) -> Route:
    """`joined_at(uniqueid)`: when the call joined the queue (epoch s), from the call tracker.
    `offer_after(queue)`: an earlier offer while the queue is escalated (core.shared), else None."""
    first_join: dict[str, float] = {}  # calls put back after an early press: their first join

    async def route(session: AgiSession) -> None:
        args = session.args + ["", ""]
        try:
            queue = DialplanName(args[0]) if args[0] else ""
        except InvalidValue:
            log.warning("callback_request_bad_queue", queue=shown(args[0]))
            queue = ""  # not a queue of ours: answered `error`, the caller keeps their place
        position = int(args[1]) if args[1].isdigit() else None
        uniqueid = session.headers.get("agi_uniqueid", "")
        number = model.usable_number(session.headers.get("agi_callerid"))
        name = session.headers.get("agi_calleridname", "")
        name = "" if name.lower() in ("unknown", "<unknown>") else name
        now = clock()
        joined = first_join.get(uniqueid) or joined_at(uniqueid)
        waited = None if joined is None else max(0.0, now - joined)
        earlier = offer_after(queue) if queue else None
        after = cfg.offer_after if earlier is None else min(cfg.offer_after, earlier)
        answer = model.offer_answer(cfg.enabled, waited, after, number)
        with structlog.contextvars.bound_contextvars(queue=queue, caller_num=number or None):
            if answer == "accepted" and queue:
                try:
                    request_id, duplicate = await store.add_request(
                        engine, pbx, uniqueid, number, name, queue, position, datetime.fromtimestamp(now, timezone.utc))
                except Exception as exc:  # noqa: BLE001 - the store is down: the caller keeps their place
                    log.error("callback_request_not_stored", error=repr(exc)[:200])
                    answer = "error"
                else:
                    log.info("callback_requested", callback_id=request_id, position=position, duplicate=duplicate,
                             waited_s=None if waited is None else round(waited, 1))
            elif answer == "accepted":
                answer = "error"  # no queue to note: the dialplan was not ours
            if answer != "accepted":
                if answer == "early" and joined is not None:
                    first_join[uniqueid] = joined
                log.info("callback_request_refused", reason=answer, position=position,
                         waited_s=None if waited is None else round(waited, 1))
                left = await _left(session, waited)
                await session.command(agi_command("SET VARIABLE", DialplanName("PBXB_REQUEUE_MAXWAIT"), left))
            else:
                first_join.pop(uniqueid, None)
            await session.command(agi_command("SET VARIABLE", DialplanName("PBXB_CALLBACK"), DialplanName(answer)))
        for key, first in list(first_join.items()):
            if now - first > _FORGET_AFTER_S:
                del first_join[key]

    return route


async def _left(session: AgiSession, waited: float | None) -> int:
    """What is left of the caller's max wait (PBXB_MAXWAIT), at least 1 s."""
    reply = await session.command("GET VARIABLE PBXB_MAXWAIT")
    try:
        maxwait = float(reply.data) if reply.result == "1" and reply.data else DEFAULT_MAXWAIT_S
    except ValueError:
        maxwait = DEFAULT_MAXWAIT_S
    return max(1, int(maxwait - (waited or 0)))
