"""Reading a rota file: YAML (without base-60 or octal surprises), then validation, with errors
as one line naming the file, the line and the key: `rota.yaml:12: companies[2].agents[0].employee_no: ...`."""

from __future__ import annotations

import os

from pydantic import ValidationError

from pbx_bridge.rota.model import Rota
from pbx_bridge.yaml_errors import PlainLoader, format_validation_error, read_yaml

ROTA_ENV = "PBX_BRIDGE_ROTA"
DEFAULT_ROTA_PATH = "/etc/pbx-bridge/rota.yaml"


class RotaError(Exception):
    """A rota problem, already phrased for the admin: `file:line: key: message`."""


def default_rota_path() -> str:
    return os.environ.get(ROTA_ENV) or DEFAULT_ROTA_PATH


def load_rota(path: str, text: str | None = None) -> Rota:
    """Read and validate; RotaError with one line if anything is wrong. `text` skips the read."""
    data, root = read_yaml(path, RotaError, loader=PlainLoader, text=text)
    try:
        return Rota.model_validate(data)
    except ValidationError as exc:
        raise RotaError(format_validation_error(path, root, exc, data)) from None
