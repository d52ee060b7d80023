"""Each package owns its settings section; config.py only assembles them (issue #13).

The core must load without config.py or any feature, or a change to a feature's settings ripples
into the tracker and the AMI client; and one strict base keeps every section refusing unknown keys.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

from pbx_bridge.config import Config
from pbx_bridge.settings import Strict

REPO = Path(__file__).resolve().parents[2]
CORE = ["ami.client", "agi.server", "calls.tracker", "store.engine", "live.state", "ring", "logs", "numbers",
        "listen", "life", "settings", "yaml_errors", "live.wallboard_server"]
FEATURES = {"agents", "callbacks", "nuisance", "reports", "rota", "voicemail", "reconcile", "ring_twice", "incidents",
            "config", "daemon", "cli"}


def test_the_core_loads_without_config_py_or_any_feature():
    code = ("import importlib, json, sys\n"
            f"for name in {CORE!r}: importlib.import_module('pbx_bridge.' + name)\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    loaded = [name for name in json.loads(out) if name.startswith("pbx_bridge.")]
    assert [name for name in loaded if name.split(".")[1] in FEATURES] == []


def test_every_config_section_is_defined_by_its_own_package_on_the_one_strict_base():
    sections = {name: field.annotation for name, field in Config.model_fields.items()
                if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)}
    assert len(sections) == 15
    for name, section in sections.items():
        assert issubclass(section, Strict), name
        assert section.__module__ != "pbx_bridge.config", name
    assert Strict.model_config == {"extra": "forbid", "frozen": True}
    copies = [path for path in (REPO / "pbx_bridge").rglob("*.py") if "class _Strict" in path.read_text("utf-8")]
    assert copies == []
