"""The `callbacks:` section: when a 1 pressed in the queue becomes a request, and how callbacks are placed."""

from __future__ import annotations

from pydantic import Field

from pbx_bridge.settings import Strict


class CallbacksConfig(Strict):
    """Callback requests (virtual hold, rules §3): see pbx_bridge/callbacks and the README."""

    enabled: bool
    offer_after: float = Field(ge=0, le=3600, description="s in the queue before a 1 is taken as a request")
    idle_after: float = Field(ge=0, le=3600, description="s an agent must have been free since their last call")
    retry_after: float = Field(ge=0, le=86400, description="s before a customer who did not answer is called again")
    max_attempts: int = Field(ge=1, le=20)
    dial_timeout: int = Field(ge=5, le=300, description="s the customer's phone rings")
    poll_interval: float = Field(gt=0, le=60)
    max_parallel: int = Field(ge=1, le=100, description="callbacks in progress at once")
    customer_context: str = Field(min_length=1)


# this room's sections of the configuration, by key (config.py assembles every room's)
SECTIONS = {"callbacks": CallbacksConfig}
