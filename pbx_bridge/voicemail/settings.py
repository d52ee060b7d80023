"""The `voicemail:` section: the duty rota, the spools, and the dialplan contexts the duty caller uses."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from pbx_bridge.settings import Strict


class VoicemailConfig(Strict):
    enabled: bool
    rota: Path
    spool_dir: Path
    asterisk_spool_dir: str
    retry_minutes: float = Field(ge=0, le=120)
    playback_context: str
    callback_context: str


# this room's sections of the configuration, by key (config.py assembles every room's)
SECTIONS = {"voicemail": VoicemailConfig}
