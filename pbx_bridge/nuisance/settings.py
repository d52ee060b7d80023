"""Settings of nuisance-call screening (rules §6).

Durations are written the way an admin says them (`30d`, `12h`; pbx_bridge/settings.py `Duration`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field

from pbx_bridge.settings import AsteriskDirectory, Duration, Strict, format_duration, parse_duration

__all__ = ["Duration", "NuisanceConfig", "format_duration", "parse_duration"]  # the CLI and the model use them from here


class NuisanceConfig(Strict):
    warnings_to_screen: int = Field(default=2, ge=0, le=100,
                                    description="warnings within `window` that screen a number (0: never automatically)")
    window: Duration = Field(default=timedelta(days=30), description="the warnings counted are at most this far apart")
    screen_for: Duration = Field(default=timedelta(days=7), description="a screen lasts this long from the last warning")
    file: Path | None = Field(default=None, description="the admins' YAML list (screen: / never_screen:), optional")
    recording_dir: AsteriskDirectory = Field(
        default="/var/spool/asterisk/monitor/pbx-bridge-evidence",
        description="where a warned call is recorded from its first warning (as Asterisk sees it); kept")
    recording_format: str = Field(default="wav", pattern=r"^[a-z0-9]{1,8}$")
    refresh_interval: float = Field(default=5, gt=0, le=300,
                                    description="seconds between reads of the store (changes made by the CLI)")


# this room's sections of the configuration, by key (config.py assembles every room's)
SECTIONS = {"nuisance": NuisanceConfig}
