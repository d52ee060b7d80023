"""Settings of the agents' phone menus. Every key has a default; `enabled: false` keeps the menus off."""

from __future__ import annotations

from pydantic import Field, field_validator

from pbx_bridge.settings import Strict

DEFAULT_PAUSE_REASONS = {"1": "break", "2": "meal", "3": "training", "4": "meeting"}


class AgentsConfig(Strict):
    enabled: bool = False
    default_queues: tuple[str, ...] = Field(default=("support",), min_length=1,
                                            description="queues joined at log-in when the rota names none")
    member_interface: str = Field(
        default="Local/{endpoint}@pbx-bridge-agents/n",
        description="the queue member added at log-in; {endpoint} is the phone's endpoint name (agent301)")
    state_interface: str = Field(default="PJSIP/{endpoint}", description="the device whose state the queue watches")
    pin_tries: int = Field(default=3, ge=1, le=10, description="wrong PINs in one call before it is ended")
    lockout_after: int = Field(default=5, ge=1, le=100, description="wrong PINs (phone or 工号) at any PIN menu, *81 and *86, before the lock")
    lockout_window_s: float = Field(default=900, gt=0, description="the wrong log-ins counted are this recent")
    lockout_for_s: float = Field(default=900, gt=0, description="how long the PIN menus stay locked")
    pause_reasons: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PAUSE_REASONS),
                                          description="key pressed after the pause code -> reason recorded")

    @field_validator("member_interface", "state_interface")
    @classmethod
    def _has_endpoint(cls, value: str) -> str:
        if "{endpoint}" not in value:
            raise ValueError("must contain {endpoint}, e.g. PJSIP/{endpoint}")
        return value

    @field_validator("pause_reasons")
    @classmethod
    def _digits(cls, value: dict[str, str]) -> dict[str, str]:
        for key, reason in value.items():
            if len(key) != 1 or key not in "0123456789":
                raise ValueError(f"pause reason keys are single digits, not {key!r}")
            if not reason or len(reason) > 40 or not reason.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"pause reason {reason!r}: a short word (letters, digits, - or _)")
        return value

    def member(self, endpoint: str) -> str:
        return self.member_interface.format(endpoint=endpoint)

    def state(self, endpoint: str) -> str:
        return self.state_interface.format(endpoint=endpoint)


# this room's sections of the configuration, by key (config.py assembles every room's)
SECTIONS = {"agents": AgentsConfig}
