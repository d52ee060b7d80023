"""Settings of nuisance-call screening (rules §6), and the duration type they are written in.

Durations are written the way an admin says them (`30d`, `7d`, `12h`, `90m`, `45s`, or a plain
number of seconds), because a window of 2592000 seconds is not something anyone reads correctly.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field

from pbx_bridge.settings import Strict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|h|m|s)?\s*$")
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1, None: 1}


def parse_duration(value: object) -> timedelta:
    """`7d`, `12h`, `90m`, `45s`, `3600` (seconds) -> timedelta; ValueError otherwise."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(f"{value!r} is not a duration: write e.g. 30d, 12h, 90m, 45s")
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be more than 0")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit in ("d", "h", "m"):
        if seconds >= _UNIT[unit] and seconds % _UNIT[unit] == 0:
            return f"{int(seconds // _UNIT[unit])}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class NuisanceConfig(Strict):
    warnings_to_screen: int = Field(default=2, ge=0, le=100,
                                    description="warnings within `window` that screen a number (0: never automatically)")
    window: Duration = Field(default=timedelta(days=30), description="the warnings counted are at most this far apart")
    screen_for: Duration = Field(default=timedelta(days=7), description="a screen lasts this long from the last warning")
    file: Path | None = Field(default=None, description="the admins' YAML list (screen: / never_screen:), optional")
    refresh_interval: float = Field(default=5, gt=0, le=300,
                                    description="seconds between reads of the store (changes made by the CLI)")


# this room's sections of the configuration, by key (config.py assembles every room's)
SECTIONS = {"nuisance": NuisanceConfig}
