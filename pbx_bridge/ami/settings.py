"""The `ami:` section: where the AMI is, who logs in, and how soon a dead peer is noticed."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from pbx_bridge.settings import Strict


class AmiConfig(Strict):
    host: str
    port: int = Field(ge=1, le=65535)
    username: str
    secret: SecretStr | None = None
    secret_file: Path | None = None
    connect_timeout: float = Field(gt=0)
    ping_interval: float = Field(gt=0)
    ping_timeout: float = Field(gt=0)
    reconnect_min: float = Field(gt=0)
    reconnect_max: float = Field(gt=0)

    @model_validator(mode="after")
    def _dead_peer_noticed_within_30s(self) -> "AmiConfig":
        if self.ping_interval + self.ping_timeout > 30:
            raise ValueError("ping_interval + ping_timeout must be 30 s or less, so a dead AMI is noticed in time")
        return self
