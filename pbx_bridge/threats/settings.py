"""Settings of threatening calls (rules §6 恐吓电话): who is told, how fast, where the evidence goes.

Every company names a team lead and a manager, each with a phone: a lead without a phone would
make the rule "tell the team lead at once" impossible, so it is refused when the file is read
(`file:line: threats.companies.<id>.lead.endpoint: ...`), never discovered during a threat.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from pbx_bridge.numbers import ChannelName, DialplanName, InvalidValue, PhoneNumber
from pbx_bridge.settings import AsteriskDirectory, Duration, Strict

def _endpoint(value: object) -> str:
    """A phone to ring: a channel (`PJSIP/lead401`) or a number (dialled through `outside_context`)."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise ValueError("no phone: give a channel (e.g. PJSIP/lead401) or a number")
    try:
        return str(PhoneNumber(text))
    except InvalidValue:
        pass
    try:
        return str(ChannelName(text))
    except InvalidValue:
        raise ValueError(f"{text!r} is neither a channel (e.g. PJSIP/lead401) nor a phone number") from None


def _dialplan_name(value: str) -> str:
    try:
        return str(DialplanName(value))
    except InvalidValue as exc:
        raise ValueError(str(exc)) from None


Endpoint = Annotated[str, BeforeValidator(_endpoint)]
Name = Annotated[str, AfterValidator(_dialplan_name)]


class Person(Strict):
    name: str = Field(min_length=1, max_length=80)
    endpoint: Endpoint = Field(description="the phone that rings: a channel (PJSIP/lead401) or a number")


class Company(Strict):
    name: str = Field(default="", max_length=160, description="as reports show it (default: the id)")
    queues: list[Name] = Field(default_factory=list, description="calls of these queues are this company's")
    lead: Person
    manager: Person


class ThreatsConfig(Strict):
    enabled: bool = False
    companies: dict[str, Company] = Field(default_factory=dict)
    default_company: str | None = Field(default=None, description="for a call of a queue no company names")
    ack_timeout: Duration = Field(default=timedelta(minutes=15),
                                  description="nobody acknowledged by then: the manager is called")
    ring_again_after: Duration = Field(default=timedelta(minutes=2),
                                       description="a person who did not acknowledge is rung again after this")
    manager_attempts: int = Field(default=5, ge=1, le=50, description="how often the manager is rung at most")
    recording_dir: AsteriskDirectory = Field(
        default="/var/spool/asterisk/monitor/pbx-bridge-evidence",
        description="where Asterisk writes a threat's recording (as Asterisk sees it); kept, never cleaned up")
    recording_format: Name = "wav"
    site_records_calls: bool = Field(default=False, description="the site records every call already: keep that")
    site_recording_variable: Name = Field(default="MIXMONITOR_FILENAME",
                                          description="the channel variable naming the site's recording")
    notice_context: Name = "pbx-bridge-threat-notice"
    outside_context: Name = Field(default="pbx-bridge-callback", description="dials a lead given as a number")
    notice_sounds: list[Name] = Field(default_factory=lambda: ["extension"],
                                      description="played before the desk is spelt out (record your own notice)")
    ack_key: str = Field(default="1", pattern=r"^[0-9]$")
    poll_interval: float = Field(default=5, gt=0, le=300, description="seconds between reads of CLI acknowledgements")

    @model_validator(mode="after")
    def _companies(self) -> ThreatsConfig:
        if self.enabled and not self.companies:
            raise ValueError("threats.enabled needs at least one company with a lead and a manager")
        if self.default_company is not None and self.default_company not in self.companies:
            raise ValueError(f"default_company {self.default_company!r} is not one of the companies")
        seen: dict[str, str] = {}
        for company_id, company in self.companies.items():
            for queue in company.queues:
                if queue in seen:
                    raise ValueError(f"queue {queue!r} belongs to both {seen[queue]!r} and {company_id!r}")
                seen[queue] = company_id
        if self.ring_again_after > self.ack_timeout:
            raise ValueError("ring_again_after is longer than ack_timeout: the lead would be rung only once")
        return self

    def company_of(self, queue: str | None) -> str | None:
        for company_id, company in self.companies.items():
            if queue and queue in company.queues:
                return company_id
        if self.default_company is not None:
            return self.default_company
        return next(iter(self.companies)) if len(self.companies) == 1 else None


# this room's sections of the configuration, by key (config.py assembles every room's)
SECTIONS = {"threats": ThreatsConfig}
