"""Configuration: packaged defaults, then the site's YAML file, then secrets from the environment.

Validation happens once, at start, and an error names the file, the line and the key, because
the person reading it is an admin with the YAML open in an editor, not a Python programmer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator,
                      model_validator)

from pbx_bridge.agents.settings import AgentsConfig
from pbx_bridge.nuisance.settings import NuisanceConfig
from pbx_bridge.reports.settings import ReportsConfig

from pbx_bridge.yaml_errors import format_validation_error, node_line, read_bytes, read_yaml

SECRET_ENV = "PBX_BRIDGE_AMI_SECRET"
STORE_URL_ENV = "PBX_BRIDGE_STORE_URL"
MQTT_PASSWORD_ENV = "PBX_BRIDGE_MQTT_PASSWORD"
QUEUE_LOG_URL_ENV = "PBX_BRIDGE_QUEUE_LOG_URL"
DEFAULT_CONFIG_PATH = "/etc/pbx-bridge/config.yaml"


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


ZoneName = Annotated[str, AfterValidator(_known_zone)]
"""An IANA time zone name (Asia/Shanghai), checked when the file is read."""


class ConfigError(Exception):
    """A configuration problem, already phrased for the admin: `file:line: key: message`."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AmiConfig(_Strict):
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


class AgiConfig(_Strict):
    host: str
    port: int = Field(ge=0, le=65535, description="0: any free port (tests)")
    header_timeout: float = Field(gt=0, le=60)
    command_timeout: float = Field(gt=0, le=600)
    max_sessions: int = Field(ge=1, le=10_000)


class StoreConfig(_Strict):
    url: str
    batch_size: int = Field(ge=1, le=10_000)
    flush_interval: float = Field(gt=0, le=60)
    max_pending: int = Field(ge=1, le=1_000_000, description="records held in memory while the database is away")
    spool_dir: Path = Field(description="where records beyond max_pending wait on disk; one per daemon")


class TrackingConfig(_Strict):
    stale_after: float = Field(gt=0, description="seconds without an end before a call is closed as incomplete")
    sweep_interval: float = Field(gt=0)


class Cadence(_Strict):
    on_ms: int = Field(gt=0)
    off_ms: int = Field(ge=0)


CADENCES = {"cn": Cadence(on_ms=1000, off_ms=4000), "us": Cadence(on_ms=2000, off_ms=4000)}


class RingConfig(_Strict):
    cadence: Literal["cn", "us"] | Cadence
    two_rings: Literal["end_of_second_ring", "two_full_cycles"]
    misses_before_pause: int = Field(default=2, ge=0, le=100)

    @property
    def pattern(self) -> Cadence:
        return CADENCES[self.cadence] if isinstance(self.cadence, str) else self.cadence


class VoicemailConfig(_Strict):
    enabled: bool
    rota: Path
    spool_dir: Path
    asterisk_spool_dir: str
    retry_minutes: float = Field(ge=0, le=120)
    playback_context: str
    callback_context: str


class CallbacksConfig(_Strict):
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


class MqttConfig(_Strict):
    enabled: bool
    host: str
    port: int = Field(ge=1, le=65535)
    username: str | None = None
    topic_prefix: str = Field(pattern=r"^[^+#]+$")
    publish_interval: float = Field(gt=0, le=60)
    keepalive: float = Field(ge=5, le=600)
    reconnect_min: float = Field(gt=0)
    reconnect_max: float = Field(gt=0)
    service_level_s: float = Field(gt=0)
    long_wait_s: float = Field(gt=0)
    repeat_caller_count: int = Field(ge=2)


class WallboardConfig(_Strict):
    enabled: bool
    host: str
    port: int = Field(ge=0, le=65535)
    broker: str = Field(description="the broker's websockets URL as the supervisors' browsers reach it")


class RealtimeQueueLogConfig(_Strict):
    url: str = Field(description="Asterisk's realtime database, e.g. mysql+aiomysql://asterisk@127.0.0.1/asterisk")
    table: str = Field(default="queue_log", pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
    utc_times: bool = Field(default=False, description="logger.conf queue_log_realtime_use_gmtime = yes")

    @field_validator("url")
    @classmethod
    def _a_database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except ArgumentError:
            raise ValueError(f"not a database URL: {value!r}") from None
        return value


class ReconcileConfig(_Strict):
    enabled: bool
    queue_log: Path | None = Field(description="Asterisk's queue_log file; null: none (realtime table only)")
    state_dir: Path = Field(description="where the positions read up to are kept")
    interval: float = Field(gt=0, le=3600)
    realtime: RealtimeQueueLogConfig | None = None


class LoggingConfig(_Strict):
    format: Literal["auto", "json", "console"]
    level: Literal["debug", "info", "warning", "error"]


class Config(_Strict):
    pbx: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    timezone: ZoneName
    ami: AmiConfig
    agi: AgiConfig
    store: StoreConfig
    tracking: TrackingConfig
    ring: RingConfig
    voicemail: VoicemailConfig
    callbacks: CallbacksConfig
    mqtt: MqttConfig
    reports: ReportsConfig = ReportsConfig()
    agents: AgentsConfig = AgentsConfig()
    wallboard: WallboardConfig
    reconcile: ReconcileConfig
    nuisance: NuisanceConfig = NuisanceConfig()
    logging: LoggingConfig

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Loaded:
    config: Config
    path: str


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def packaged_defaults() -> dict:
    return yaml.safe_load(resources.files("pbx_bridge").joinpath("defaults.yaml").read_text("utf-8"))


def _read_yaml(path: str) -> tuple[dict, yaml.Node | None]:
    return read_yaml(path, ConfigError)


MAX_SECRET_BYTES = 4096


class SecretFileError(Exception):
    """Why a secret file was refused, in words that never include the secret."""


def read_secret_file(path: str | Path) -> str:
    """The secret in a file (stripped): a regular file of at most 4 KiB, UTF-8; SecretFileError
    (`PATH: cannot read: ...`, `PATH: not a regular file`, `PATH: too large ...`) otherwise.

    Bounded because the path is the admin's: `/dev/zero` or a log file named by mistake must be
    a one-line error at start, not a MemoryError.
    """
    raw = read_bytes(str(path), SecretFileError, limit=MAX_SECRET_BYTES)
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SecretFileError(f"{path}: not UTF-8 text") from None


def _resolve_secret(data: dict, path: str, root: yaml.Node | None, env: dict[str, str]) -> None:
    ami = data.get("ami")
    if not isinstance(ami, dict):
        return
    if env.get(SECRET_ENV):
        ami["secret"] = env[SECRET_ENV]
    elif ami.get("secret_file") and not ami.get("secret"):
        try:
            ami["secret"] = read_secret_file(str(ami["secret_file"]))
        except SecretFileError as exc:
            line = node_line(root, ("ami", "secret_file"))
            raise ConfigError(f"{path}:{line}: ami.secret_file: {exc}") from None


def load_config(path: str, env: dict[str, str] | None = None) -> Config:
    """Read, merge and validate; raise ConfigError with one line for the admin."""
    env = dict(os.environ if env is None else env)
    data, root = _read_yaml(path)
    _resolve_secret(data, path, root, env)
    if env.get(STORE_URL_ENV):
        data = _deep_merge(data, {"store": {"url": env[STORE_URL_ENV]}})
    if env.get(QUEUE_LOG_URL_ENV) and isinstance((data.get("reconcile") or {}).get("realtime"), dict):
        data = _deep_merge(data, {"reconcile": {"realtime": {"url": env[QUEUE_LOG_URL_ENV]}}})
    merged = _deep_merge(packaged_defaults(), data)
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, root, exc, merged)) from None
