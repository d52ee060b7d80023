"""The `agi:` section: where the FastAGI server listens, its limits, and the secret every AGI URL carries."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from pbx_bridge.settings import Strict


class AgiConfig(Strict):
    host: str
    port: int = Field(ge=0, le=65535, description="0: any free port (tests)")
    header_timeout: float = Field(gt=0, le=60)
    command_timeout: float = Field(gt=0, le=600)
    max_sessions: int = Field(ge=1, le=10_000)
    # What the dialplan sends in every AGI URL (?auth=...): a session without it is refused.
    secret: SecretStr | None = None
    secret_file: Path | None = None

    @field_validator("secret")
    @classmethod
    def _fits_an_agi_url(cls, value: SecretStr | None) -> SecretStr | None:
        # It rides in the dialplan's AGI() arguments and a URL query: no comma, &, ;, space, $.
        if value is not None and not re.fullmatch(r"[A-Za-z0-9._~-]{16,256}", value.get_secret_value()):
            raise ValueError("16 to 256 letters, digits or . _ ~ - (it goes into the dialplan's AGI URLs)")
        return value
