"""Configuration: packaged defaults, then the site's YAML file, then secrets from the environment.

Validation happens once, at start, and an error names the file, the line and the key, because
the person reading it is an admin with the YAML open in an editor, not a Python programmer.

Each section is defined by the package it configures (ami/settings.py, voicemail/settings.py, ...);
this module only assembles them into `Config` and loads it, so it imports them and none imports it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from zoneinfo import ZoneInfo

import yaml
from pydantic import Field, ValidationError

from pbx_bridge.agents.settings import AgentsConfig
from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.ami.settings import AmiConfig
from pbx_bridge.callbacks.settings import CallbacksConfig
from pbx_bridge.calls.settings import TrackingConfig
from pbx_bridge.incidents.settings import IncidentsConfig
from pbx_bridge.live.settings import MQTT_PASSWORD_ENV, MqttConfig, WallboardConfig
from pbx_bridge.logs import LoggingConfig
from pbx_bridge.nuisance.settings import NuisanceConfig
from pbx_bridge.reconcile.settings import ReconcileConfig
from pbx_bridge.reports.settings import ReportsConfig
from pbx_bridge.ring import RingConfig
from pbx_bridge.settings import SecretFileError, Strict, ZoneName, read_secret_file
from pbx_bridge.store.settings import StoreConfig
from pbx_bridge.voicemail.settings import VoicemailConfig
from pbx_bridge.yaml_errors import format_validation_error, node_line, read_yaml

SECRET_ENV = "PBX_BRIDGE_AMI_SECRET"
AGI_SECRET_ENV = "PBX_BRIDGE_AGI_SECRET"
STORE_URL_ENV = "PBX_BRIDGE_STORE_URL"
QUEUE_LOG_URL_ENV = "PBX_BRIDGE_QUEUE_LOG_URL"
DEFAULT_CONFIG_PATH = "/etc/pbx-bridge/config.yaml"


class ConfigError(Exception):
    """A configuration problem, already phrased for the admin: `file:line: key: message`."""


class Config(Strict):
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
    incidents: IncidentsConfig = IncidentsConfig()
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


def _resolve_secret(section: str, env_name: str, data: dict, path: str, root: yaml.Node | None,
                    env: dict[str, str]) -> None:
    """`<section>.secret`: the environment wins over `<section>.secret_file` (read_secret_file)."""
    values = data.get(section)
    if env.get(env_name):
        if not isinstance(values, dict):
            values = data[section] = {}
        values["secret"] = env[env_name]
        return
    if not isinstance(values, dict) or not values.get("secret_file") or values.get("secret"):
        return
    try:
        secret = read_secret_file(str(values["secret_file"]))
        if not secret:
            raise SecretFileError(f"{values['secret_file']}: empty")
    except SecretFileError as exc:
        line = node_line(root, (section, "secret_file"))
        raise ConfigError(f"{path}:{line}: {section}.secret_file: {exc}") from None
    values["secret"] = secret


def _url_passwords(url: str | None) -> list[str]:
    """The password of a database URL as the daemon uses it and as it is written (%-quoted)."""
    from urllib.parse import urlsplit

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not url:
        return []
    out = []
    try:
        out.append(make_url(url).password)
    except ArgumentError:
        pass
    try:
        out.append(urlsplit(url).password)
    except ValueError:
        pass
    return [p for p in out if p]


def secrets_of(cfg: Config, env: dict[str, str] | None = None) -> list[str]:
    """Every secret the daemon holds, for logs.register_secret at start. A new secret: one line here."""
    env = dict(os.environ if env is None else env)
    found = [
        cfg.ami.secret.get_secret_value() if cfg.ami.secret is not None else None,
        cfg.agi.secret.get_secret_value() if cfg.agi.secret is not None else None,
        *_url_passwords(cfg.store.url),
        env.get(MQTT_PASSWORD_ENV),
        *(_url_passwords(cfg.reconcile.realtime.url) if cfg.reconcile.realtime is not None else []),
    ]
    return [secret for secret in found if secret]


def load_config(path: str, env: dict[str, str] | None = None) -> Config:
    """Read, merge and validate; raise ConfigError with one line for the admin."""
    env = dict(os.environ if env is None else env)
    data, root = _read_yaml(path)
    _resolve_secret("ami", SECRET_ENV, data, path, root, env)
    _resolve_secret("agi", AGI_SECRET_ENV, data, path, root, env)
    if env.get(STORE_URL_ENV):
        data = _deep_merge(data, {"store": {"url": env[STORE_URL_ENV]}})
    if env.get(QUEUE_LOG_URL_ENV) and isinstance((data.get("reconcile") or {}).get("realtime"), dict):
        data = _deep_merge(data, {"reconcile": {"realtime": {"url": env[QUEUE_LOG_URL_ENV]}}})
    merged = _deep_merge(packaged_defaults(), data)
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, root, exc, merged)) from None
