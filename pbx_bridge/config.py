"""Configuration: packaged defaults, then the site's YAML file, then secrets from the environment.

Validation happens once, at start, and an error names the file, the line and the key, because
the person reading it is an admin with the YAML open in an editor, not a Python programmer.

Each section is defined by the package it configures: the core's (ami/settings.py, store/settings.py,
...) are imported here; each room's are listed by the room itself (`SECTIONS` in `<room>/settings.py`,
defaults in `<room>/defaults.yaml`) and gathered by name from room_list.ROOMS, so a new room adds its
settings without a line here. None of them imports this module.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from importlib import resources
from zoneinfo import ZoneInfo

import yaml
from pydantic import Field, ValidationError, create_model

from pbx_bridge.agi.settings import AgiConfig
from pbx_bridge.ami.settings import AmiConfig
from pbx_bridge.calls.settings import TrackingConfig
from pbx_bridge.logs import LoggingConfig
from pbx_bridge.ring import RingConfig
from pbx_bridge.room_list import ROOMS
from pbx_bridge.settings import SecretFileError, Strict, ZoneName, read_secret_file, url_passwords
from pbx_bridge.store.settings import StoreConfig
from pbx_bridge.yaml_errors import format_validation_error, node_line, read_yaml

SECRET_ENV = "PBX_BRIDGE_AMI_SECRET"
AGI_SECRET_ENV = "PBX_BRIDGE_AGI_SECRET"
STORE_URL_ENV = "PBX_BRIDGE_STORE_URL"
DEFAULT_CONFIG_PATH = "/etc/pbx-bridge/config.yaml"


class ConfigError(Exception):
    """A configuration problem, already phrased for the admin: `file:line: key: message`."""


class CoreConfig(Strict):
    """The sections of the core (the boundaries and the tracker); each room adds its own."""

    pbx: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    timezone: ZoneName
    ami: AmiConfig
    agi: AgiConfig
    store: StoreConfig
    tracking: TrackingConfig
    ring: RingConfig
    logging: LoggingConfig

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _room_module(room: str, name: str):  # noqa: ANN202 - a module or None
    try:
        return importlib.import_module(f"pbx_bridge.{room}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"pbx_bridge.{room}.{name}":
            return None
        raise


def room_sections() -> dict[str, type[Strict]]:
    """Every room's sections (`SECTIONS` in `<room>/settings.py`), by key, in the rooms' order.
    Loaded by name rather than imported, so that a room plugs its settings in by being listed."""
    sections: dict[str, type[Strict]] = {}
    for room in ROOMS:
        module = _room_module(room, "settings")
        for key, model in (getattr(module, "SECTIONS", None) or {}).items():
            if key in sections or key in CoreConfig.model_fields:
                raise RuntimeError(f"the settings section {key!r} of room {room!r} is already taken")
            sections[key] = model
    return sections


def _field(model: type[Strict]):  # noqa: ANN202 - a pydantic field definition
    """A section the packaged defaults leave out is built from its own defaults, if it has them all."""
    try:
        model()
    except ValidationError:
        return (model, ...)
    return (model, Field(default_factory=model))


SECTIONS = room_sections()
Config = create_model("Config", __base__=CoreConfig, **{key: _field(model) for key, model in SECTIONS.items()})
Config.__doc__ = "The whole configuration: the core's sections and every room's (room_sections)."


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
    """The core's defaults (pbx_bridge/defaults.yaml), with each room's (`<room>/defaults.yaml`)."""
    defaults = yaml.safe_load(resources.files("pbx_bridge").joinpath("defaults.yaml").read_text("utf-8"))
    for room in ROOMS:
        path = resources.files(f"pbx_bridge.{room}").joinpath("defaults.yaml")
        if path.is_file():
            defaults = _deep_merge(defaults, yaml.safe_load(path.read_text("utf-8")) or {})
    return defaults


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


def secrets_of(cfg: Config, env: dict[str, str] | None = None) -> list[str]:
    """Every secret the daemon holds, for logs.register_secret at start: the core's, and what each
    room's section says it holds (its `secrets(env)`)."""
    env = dict(os.environ if env is None else env)
    found = [
        cfg.ami.secret.get_secret_value() if cfg.ami.secret is not None else None,
        cfg.agi.secret.get_secret_value() if cfg.agi.secret is not None else None,
        *url_passwords(cfg.store.url),
    ]
    for key in SECTIONS:
        secrets = getattr(getattr(cfg, key), "secrets", None)
        if secrets is not None:
            found.extend(secrets(env))
    return [secret for secret in found if secret]


def load_config(path: str, env: dict[str, str] | None = None) -> Config:
    """Read, merge and validate; raise ConfigError with one line for the admin."""
    env = dict(os.environ if env is None else env)
    data, root = _read_yaml(path)
    _resolve_secret("ami", SECRET_ENV, data, path, root, env)
    _resolve_secret("agi", AGI_SECRET_ENV, data, path, root, env)
    if env.get(STORE_URL_ENV):
        data = _deep_merge(data, {"store": {"url": env[STORE_URL_ENV]}})
    for key, model in SECTIONS.items():  # what a room's section takes from the environment
        from_environment = getattr(model, "from_environment", None)
        if from_environment is not None and isinstance(data.get(key), dict):
            data = {**data, key: from_environment(data[key], env)}
    merged = _deep_merge(packaged_defaults(), data)
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, root, exc, merged)) from None
