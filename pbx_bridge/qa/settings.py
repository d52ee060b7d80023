"""Settings of call monitoring (rules §4): who may listen, from which phone, to which companies.

A supervisor is named here, not in the rota: the rota lists who takes calls and holds voicemail
duty, and a supervisor usually does neither. Their PIN is an argon2 hash (`pbx-bridge rota
hash-pin`), checked through the daemon's one PIN gate, so wrong PINs at *85 count into the same
lock-out as *81 and *86.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from pbx_bridge.settings import Strict

ALL_COMPANIES = "*"
# What the spy code may name: endpoints made of these characters only, so the channel pattern
# built from one (routes.py) needs no escaping beyond `.` and `+`.
ENDPOINT = r"^[A-Za-z0-9_]{1,32}/[A-Za-z0-9_.+-]{1,80}$"


class Supervisor(Strict):
    name: str = Field(min_length=1, max_length=80)
    endpoint: str = Field(pattern=ENDPOINT, description="the supervisor's phone, e.g. PJSIP/super601")
    employee_no: str = Field(pattern=r"^[0-9]{1,16}$", description="工号: the PIN lock-out counts per 工号 too")
    pin_hash: str = Field(repr=False, description="argon2 hash of the PIN (`pbx-bridge rota hash-pin`)")
    companies: tuple[str, ...] = Field(min_length=1, description="rota company ids this supervisor may listen to; "
                                                                 "\"*\": every company")
    whisper: bool = Field(default=False, description="may also talk to the agent (*87): the caller does not hear it")

    @field_validator("employee_no", mode="before")
    @classmethod
    def _employee_no(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("pin_hash")
    @classmethod
    def _argon2(cls, value: str) -> str:
        if not value.startswith("$argon2"):
            raise ValueError("not an argon2 hash: make one with `pbx-bridge rota hash-pin`, never write the PIN")
        return value

    def may_listen_to(self, company: str) -> bool:
        return ALL_COMPANIES in self.companies or company in self.companies


class QaConfig(Strict):
    enabled: bool = Field(default=False, description="serve the spy codes (*85, *87) and scores")
    supervisors: tuple[Supervisor, ...] = Field(default=(), description="who may listen, from which phone")
    pin_tries: int = Field(default=3, ge=1, le=5, description="PINs asked per call of the code")
    score_prompt: str = Field(default="beep", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_/.-]{0,79}$",
                              description="sound played to ask for the score (1-5) after the listen")
    score_wait_s: int = Field(default=8, ge=2, le=60, description="seconds to wait for the score key")
    alert_at_or_below: int = Field(default=2, ge=0, le=5,
                                   description="a score at or below this is an alert on MQTT and the wallboard "
                                               "(0: never)")

    @model_validator(mode="after")
    def _consistent(self) -> "QaConfig":
        for key in ("endpoint", "employee_no"):
            seen: set[str] = set()
            for supervisor in self.supervisors:
                value = getattr(supervisor, key)
                if value in seen:
                    raise ValueError(f"supervisors: {key} {value} is given to two supervisors")
                seen.add(value)
        if self.enabled and not self.supervisors:
            raise ValueError("enabled, but no supervisors: name at least one (name, endpoint, employee_no, "
                             "pin_hash, companies)")
        return self

    def supervisor_at(self, endpoint: str) -> Supervisor | None:
        return next((s for s in self.supervisors if s.endpoint == endpoint), None)


def endpoint_pattern(endpoint: str) -> str:
    """A POSIX regex that matches the channels of `endpoint` only (`PJSIP/agent301-0000001a`, not
    `PJSIP/agent3010-...`). `.` and `+` go in brackets: a backslash would not survive Asterisk's
    function-argument parsing."""
    if not re.fullmatch(ENDPOINT, endpoint):
        raise ValueError(f"{endpoint!r} is not an endpoint the spy code can name")
    return "^" + endpoint.replace(".", "[.]").replace("+", "[+]") + "-"


# this room's sections of the configuration, by key (config.py assembles every room's)
SECTIONS = {"qa": QaConfig}
