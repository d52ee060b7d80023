"""The `escalation:` section: a ladder of steps per queue (rules §3, "when calls pile up").

A ladder is checked once, when the file is read, because a ladder that contradicts itself (a later
step that fires before an earlier one, a calm time of 0, a supervisor nobody named) would escalate
in an order nobody intended, at the worst moment to find out. Each error points at the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from pbx_bridge.numbers import InvalidValue, PhoneNumber
from pbx_bridge.settings import Strict
from pbx_bridge.yaml_errors import At

_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,79}$"  # a queue or endpoint name as Asterisk writes it
QueueName = Annotated[str, Field(pattern=_NAME)]


def _numbers(values: tuple[str, ...]) -> tuple[PhoneNumber, ...]:
    out = []
    for i, raw in enumerate(values):
        try:
            out.append(PhoneNumber.parse(str(raw)))
        except InvalidValue as exc:
            raise At(str(exc), loc=(i,)) from None
    return tuple(out)


class AddMember(Strict):
    member: str = Field(min_length=1, max_length=80, description="a name under escalation.supervisors")
    penalty: int = Field(default=0, ge=0, le=1000, description="app_queue penalty: higher rings after lower")


class Priority(Strict):
    """Callers who join while the step holds get QUEUE_PRIO `level` (set by the inbound AGI)."""

    level: int = Field(ge=1, le=1000)
    dids: tuple[str, ...] = Field(default=(), description="dialled numbers (lines) whose callers go first")
    callers: tuple[str, ...] = Field(default=(), description="callers' numbers (a VIP list) who go first")

    @field_validator("dids", "callers")
    @classmethod
    def _typed(cls, value: tuple[str, ...]) -> tuple[PhoneNumber, ...]:
        return _numbers(value)

    @model_validator(mode="after")
    def _someone(self) -> Priority:
        if not self.dids and not self.callers:
            raise ValueError("a priority step names at least one DID (dids) or caller (callers)")
        return self


class Step(Strict):
    """Fires when ANY of its thresholds is reached; undone, last first, when the queue has been calm."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    waiting: int | None = Field(default=None, ge=1, description="callers waiting >= this")
    longest_wait: float | None = Field(default=None, gt=0, description="the longest wait >= this many seconds")
    service_level_below: float | None = Field(
        default=None, gt=0, le=1, description="share answered within service_level_s over the window < this")
    add: tuple[AddMember, ...] = Field(default=(), description="supervisors or dedicated seats to add as members")
    priority: Priority | None = None
    callback_offer_after: float | None = Field(
        default=None, ge=0, le=3600, description="while the step holds, a 1 pressed after this many s is a request")

    @model_validator(mode="after")
    def _complete(self) -> Step:
        if self.waiting is None and self.longest_wait is None and self.service_level_below is None:
            raise ValueError("a step needs a threshold: waiting, longest_wait or service_level_below")
        if not self.add and self.priority is None and self.callback_offer_after is None:
            raise ValueError("a step needs an action: add, priority or callback_offer_after")
        return self


class Ladder(Strict):
    calm_for: float = Field(default=300, description="s below the current step's thresholds before it is undone")
    steps: tuple[Step, ...] = Field(min_length=1)

    @field_validator("calm_for")
    @classmethod
    def _calm(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0 s: a ladder undone at once would add and remove in a loop")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Ladder:
        """Each threshold rises (service level: falls) from step to step, so the steps fire in order."""
        names: dict[str, int] = {}
        members: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            if step.name in names:
                raise At(f"step name {step.name!r} is used by step {names[step.name] + 1} too", ("steps", i, "name"))
            names[step.name] = i
            for j, add in enumerate(step.add):
                if add.member in members:
                    raise At(f"{add.member!r} is already added by step {members[add.member] + 1}",
                             ("steps", i, "add", j, "member"))
                members[add.member] = i
            for earlier_i in range(i):
                earlier = self.steps[earlier_i]
                for key, later_is_worse in (("waiting", True), ("longest_wait", True), ("service_level_below", False)):
                    before, now = getattr(earlier, key), getattr(step, key)
                    if before is None or now is None:
                        continue
                    if (now < before) if later_is_worse else (now > before):
                        word = "lower" if later_is_worse else "higher"
                        raise At(f"{now:g} is {word} than step {earlier_i + 1} ({earlier.name}: {before:g}): "
                                 "a later step must need a worse queue", ("steps", i, key))
        return self


class EscalationConfig(Strict):
    enabled: bool = False
    supervisors: dict[str, Annotated[str, Field(pattern=_NAME)]] = Field(
        default_factory=dict, description="name -> phone endpoint (super501) of the supervisors and dedicated seats")
    queues: dict[QueueName, Ladder] = Field(default_factory=dict, description="queue -> its ladder")
    member_interface: str = Field(
        default="Local/{endpoint}@pbx-bridge-agents/n",
        description="the member added (the agents' ring-twice leg of the shipped dialplan)")
    state_interface: str = Field(default="PJSIP/{endpoint}", description="the device the queue watches")
    interval: float = Field(default=2, gt=0, le=60, description="s between looks at the queues (QueueStatus)")
    service_level_s: float = Field(default=20, gt=0, description="answered within this wait = within service level")
    window_s: float = Field(default=900, gt=0, le=86400, description="the service level is of this many last s")
    retry_remove_s: float = Field(default=15, gt=0, description="a member still on a call is asked again after this")
    state_file: Path = Field(default=Path("/var/lib/pbx-bridge/escalation.json"),
                             description="what `pbx-bridge escalation status` reads (written by the daemon)")

    @field_validator("member_interface", "state_interface")
    @classmethod
    def _has_endpoint(cls, value: str) -> str:
        if "{endpoint}" not in value:
            raise ValueError("must contain {endpoint}, e.g. PJSIP/{endpoint}")
        return value

    @model_validator(mode="after")
    def _known_members(self) -> EscalationConfig:
        for queue, ladder in self.queues.items():
            for i, step in enumerate(ladder.steps):
                for j, add in enumerate(step.add):
                    if add.member not in self.supervisors:
                        known = ", ".join(sorted(self.supervisors)) or "none"
                        raise At(f"unknown supervisor {add.member!r} (escalation.supervisors names: {known})",
                                 ("queues", queue, "steps", i, "add", j, "member"))
        return self

    def member(self, name: str) -> str:
        return self.member_interface.format(endpoint=self.supervisors[name])

    def state(self, name: str) -> str:
        return self.state_interface.format(endpoint=self.supervisors[name])


SECTIONS = {"escalation": EscalationConfig}
