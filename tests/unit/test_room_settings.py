"""Each room brings its own settings sections and their defaults; config.py names none of them."""

from pathlib import Path

import yaml

from pbx_bridge import config
from pbx_bridge.config import Config, CoreConfig, packaged_defaults, room_sections
from pbx_bridge.room_list import ROOMS

PACKAGE = Path(config.__file__).parent


def test_every_section_of_the_configuration_is_the_cores_or_a_listed_rooms():
    sections = room_sections()
    assert set(Config.model_fields) == set(CoreConfig.model_fields) | set(sections)
    for key, model in sections.items():
        room = model.__module__.split(".")[1]
        assert room in ROOMS, f"section {key!r} comes from {model.__module__}, not a listed room"


def test_a_rooms_defaults_file_holds_only_its_own_sections_and_they_validate():
    sections = room_sections()
    for room in ROOMS:
        path = PACKAGE / room / "defaults.yaml"
        if not path.is_file():
            continue
        for key, values in yaml.safe_load(path.read_text("utf-8")).items():
            assert sections[key].__module__ == f"pbx_bridge.{room}.settings", f"{path}: {key} is not its section"
            sections[key].model_validate(values)


def test_config_py_names_no_room():
    source = (PACKAGE / "config.py").read_text("utf-8")
    for room in ROOMS:
        if room == "calls":  # the tracker's section is the core's (core.py builds the tracker)
            continue
        assert f"pbx_bridge.{room}" not in source, f"config.py names the room {room!r}"


def test_the_packaged_defaults_and_a_site_s_ami_host_make_a_whole_configuration():
    data = packaged_defaults()
    data["ami"]["host"] = "127.0.0.1"  # the one key a site must write
    cfg = Config.model_validate(data)
    assert (cfg.mqtt.port, cfg.wallboard.port, cfg.voicemail.enabled) == (1883, 8480, False)
