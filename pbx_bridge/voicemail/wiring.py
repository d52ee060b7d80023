"""The voicemail-duty room: the duty agent is called to hear the day's messages (*86 from their
own phone, or the duty call the daemon places). Uses the rota room's `core.rota` and `core.pins`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pbx_bridge.voicemail.routes import voicemail, voicemail_login
from pbx_bridge.ring import two_rings_s
from pbx_bridge.voicemail.duty_caller import DutyCaller
from pbx_bridge.voicemail.player import VoicemailPlayer
from pbx_bridge.voicemail.spool import Spool
from pbx_bridge.voicemail import records
from pbx_bridge.store.registry import RecordKinds

if TYPE_CHECKING:
    from pbx_bridge.core import Core


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return cfg.voicemail.enabled


def wire(core: Core) -> DutyCaller:
    cfg = core.cfg
    spool = Spool(cfg.voicemail.spool_dir, cfg.voicemail.asterisk_spool_dir)  # SpoolError at start: exit 2
    player = VoicemailPlayer(cfg.pbx, spool, core.writer.put, cfg.voicemail.callback_context)
    duty_caller = DutyCaller(cfg.pbx, core.rota, player, core.send_action, core.writer.put, two_rings_s(cfg.ring),
                             cfg.voicemail.retry_minutes, cfg.voicemail.playback_context)
    core.add_route("voicemail", voicemail(player, core.rota))
    core.add_route("voicemail_login", voicemail_login(player, core.rota, core.pins))
    core.add_task("voicemail-duty", duty_caller.run)
    return duty_caller


def register_records(kinds: RecordKinds) -> None:
    records.register_records(kinds)
