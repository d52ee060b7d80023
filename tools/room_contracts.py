"""Import contracts that read the list of rooms, so that a new room is checked without a line here.

`make test` runs `lint-imports`, which loads these types from setup.cfg (`contract_types`). In a
contract's `layers` (or an independence contract's `modules`), the entry `{rooms}` stands for every
room of pbx_bridge/room_list.py that the contract does not name elsewhere: the feature rooms, side by
side, knowing nothing of each other. Adding a room to ROOMS is what places it in the contract.
"""

from __future__ import annotations

import re

from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.layers import LayersContract
from importlinter.domain import fields

from pbx_bridge.room_list import ROOMS

TOKEN = "{rooms}"


def _lines(raw: object) -> list[str]:
    return [raw] if isinstance(raw, str) else list(raw)


def _named(entries: list[str], prefix: str = "") -> set[str]:
    names = set()
    for entry in entries:
        for part in re.split(r"[|:]", entry):
            name = part.strip().strip("()")
            if name and name != TOKEN and name != prefix + TOKEN:
                names.add(name.removeprefix(prefix))
    return names


def rooms_apart(named: set[str]) -> list[str]:
    """The rooms a contract leaves to the token: every room it does not name itself, in ROOMS order."""
    rooms = [room for room in ROOMS if room not in named]
    if not rooms:
        raise ValueError(f"{TOKEN} stands for no room: every room is named elsewhere")
    return rooms


class RoomLayersContract(LayersContract):
    """A layers contract whose `{rooms}` layer holds the feature rooms as independent siblings."""

    def __init__(self, name, session_options, contract_options):  # noqa: ANN001 - import-linter's signature
        layers = _lines(contract_options.get("layers", []))
        rooms = " | ".join(rooms_apart(_named(layers)))
        options = {**contract_options, "layers": [line.replace(TOKEN, rooms) for line in layers]}
        super().__init__(name, session_options, options)


class RoomIndependenceContract(IndependenceContract):
    """An independence contract over `<package>.{rooms}`, less the rooms named in `apart_from`."""

    apart_from = fields.ListField(subfield=fields.StringField(), required=False)

    def __init__(self, name, session_options, contract_options):  # noqa: ANN001 - import-linter's signature
        modules = []
        apart = set(_lines(contract_options.get("apart_from", [])))
        for line in _lines(contract_options.get("modules", [])):
            if line.endswith("." + TOKEN):
                package = line[: -len(TOKEN)]
                modules.extend(package + room for room in rooms_apart(apart))
            else:
                modules.append(line)
        super().__init__(name, session_options, {**contract_options, "modules": modules})
