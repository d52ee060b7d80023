"""The `pbx-bridge` command. Subcommands live beside it, one module per area."""

from pbx_bridge.cli.base import cli, main
from pbx_bridge.cli import callbacks, escalation, incidents, nuisance, qa, reports, rota, threats, web  # noqa: F401 - registers their commands on `cli`

__all__ = ["cli", "main"]
