"""The rota in force, reloaded on demand (SIGHUP, wired by the daemon) and when the file changes.

A new rota that fails to load is refused: the old one stays in force and the error line is logged
(`rota_reload_refused`); the daemon never stops because of an edit. The mechanism is the one every
admin file shares (`pbx_bridge.admin_file`); this module only names the rota's parts of it.
"""

from __future__ import annotations

from typing import Callable

from pbx_bridge.admin_file import AdminFile
from pbx_bridge.rota.load import RotaError, load_rota
from pbx_bridge.rota.model import Rota


def _summary(rota: Rota) -> str:
    return f"{len(rota.companies)} companies, {rota.agent_count} agents, {len(rota.round_ids)} rounds"


def _parse(path: str, text: str) -> Rota:
    return load_rota(path, text=text)


class RotaHolder(AdminFile[Rota]):
    def __init__(self, path: str, on_change: Callable[[Rota], None] | None = None) -> None:
        super().__init__(path, _parse, RotaError, summary=_summary, events="rota", noun="rota", on_change=on_change)

    @property
    def current(self) -> Rota:
        if self._value is None:
            raise RuntimeError("the rota is not loaded yet")
        return self._value
