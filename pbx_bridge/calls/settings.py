"""The `tracking:` section: when the tracker gives up on a call that never ended."""

from __future__ import annotations

from pydantic import Field

from pbx_bridge.settings import Strict


class TrackingConfig(Strict):
    stale_after: float = Field(gt=0, description="seconds without an end before a call is closed as incomplete")
    sweep_interval: float = Field(gt=0)
