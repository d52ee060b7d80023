"""The `pbx-bridge` command: the daemon, and the admin's tools around its store."""

from __future__ import annotations

import asyncio
import sys
import traceback
from datetime import date, datetime

import click

from pbx_bridge import logs
from pbx_bridge.cli.output import prefixed
from pbx_bridge.config import AGI_SECRET_ENV, DEFAULT_CONFIG_PATH, SECRET_ENV, Config, ConfigError, load_config, secrets_of

config_option = click.option(
    "-c", "--config", "config_path", envvar="PBX_BRIDGE_CONFIG", default=DEFAULT_CONFIG_PATH, show_default=True,
    help="The YAML configuration file.",
)


def _load(config_path: str) -> Config:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        click.echo(prefixed("config error", exc), err=True)
        sys.exit(2)


def _day(_ctx, param, value: str) -> date:  # noqa: ANN001 - click callback
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date of the form YYYY-MM-DD", param=param) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pbx-bridge")
def cli() -> None:
    """pbx-bridge: keeps an Asterisk call center's house rules and counts its numbers."""


@cli.command()
@config_option
def run(config_path: str) -> None:
    """Run the daemon in the foreground (systemd starts it this way)."""
    cfg = _load(config_path)
    if cfg.ami.secret is None:
        click.echo(
            f"pbx-bridge: config error: {config_path}: ami.secret: no AMI secret: "
            f"set ami.secret_file or the environment variable {SECRET_ENV}", err=True,
        )
        sys.exit(2)
    if cfg.agi.secret is None:
        click.echo(
            f"pbx-bridge: config error: {config_path}: agi.secret: no FastAGI secret: "
            f"set agi.secret_file or the environment variable {AGI_SECRET_ENV}", err=True,
        )
        sys.exit(2)
    secret = cfg.ami.secret.get_secret_value()
    for known in secrets_of(cfg):
        logs.register_secret(known)
    logs.configure(cfg.logging.format, cfg.logging.level)
    from pbx_bridge.daemon import main as daemon_main
    from pbx_bridge.life import describe
    from pbx_bridge.listen import listen_error_in
    from pbx_bridge.nuisance.file import ScreeningFileError
    from pbx_bridge.rota.load import RotaError
    from pbx_bridge.settings import SettingsConflict
    from pbx_bridge.store.spool import SpoolError

    try:
        asyncio.run(daemon_main(cfg, secret))
    except RotaError as exc:
        _fail(2, prefixed("rota error", exc).removeprefix("pbx-bridge: "))
    except ScreeningFileError as exc:
        _fail(2, prefixed("screening file error", exc).removeprefix("pbx-bridge: "))
    except SpoolError as exc:
        _fail(2, f"store.spool_dir: {exc}")
    except SettingsConflict as exc:
        _fail(2, prefixed("config error", exc).removeprefix("pbx-bridge: "))
    except Exception as exc:  # noqa: BLE001 - the daemon failed: one line here, systemd restarts it
        if (taken := listen_error_in(exc)) is not None:  # a port in use: the admin's to fix, not a crash
            _fail(2, str(taken))
        if getattr(exc, "daemon_task", None) is None:  # a task's failure is logged already, with its traceback
            click.echo(logs.mask_text("".join(traceback.format_exception(exc))).rstrip("\n"), err=True)
        _fail(1, describe(exc))


def _fail(status: int, problem: str) -> None:
    """One line on stderr (masked: an exception's text may carry a secret), then the exit status."""
    click.echo(logs.mask_text(f"pbx-bridge: {problem}"), err=True)
    sys.exit(status)


@cli.group()
def config() -> None:
    """Check a configuration file."""


@config.command("check")
@config_option
def config_check(config_path: str) -> None:
    """Validate the file, and the rota and screening files it names (those the daemon would load);
    exit 2 with `file:line: key: problem` for each one that is wrong."""
    from pbx_bridge.nuisance.file import ScreeningFileError, load_file
    from pbx_bridge.rota.load import RotaError, load_rota

    cfg = _load(config_path)
    oks, problems = [f"{config_path}: ok (pbx {cfg.pbx}, AMI {cfg.ami.host}:{cfg.ami.port})"], []
    if cfg.voicemail.enabled or cfg.agents.enabled:
        try:
            rota = load_rota(str(cfg.voicemail.rota))
            oks.append(f"{cfg.voicemail.rota}: ok ({len(rota.companies)} companies, {rota.agent_count} agents)")
        except RotaError as exc:
            problems.append(prefixed("rota error", exc))
    if cfg.nuisance.file is not None:
        try:
            oks.append(f"{cfg.nuisance.file}: ok ({load_file(str(cfg.nuisance.file), cfg.tz).summary()})")
        except ScreeningFileError as exc:
            problems.append(prefixed("screening file error", exc))
    for line in problems:
        click.echo(line, err=True)
    if problems:
        sys.exit(2)
    for line in oks:
        click.echo(line)


@cli.group()
def db() -> None:
    """The SQL store."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: str) -> None:
    """Create or migrate the store's tables to the current schema."""
    from pbx_bridge.store.engine import safe_url
    from pbx_bridge.rooms import upgrade

    cfg = _load(config_path)
    upgrade(cfg.store.url)
    click.echo(f"store {safe_url(cfg.store.url)} is at the current schema")


def _export_command(kind: str):
    @click.command("export")
    @config_option
    @click.option("--from", "first", required=True, callback=_day, help="First local day, YYYY-MM-DD.")
    @click.option("--to", "last", required=True, callback=_day, help="Last local day (included), YYYY-MM-DD.")
    @click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
    @click.option("--pbx", default=None, help="Only this PBX host's records (default: every host in the store).")
    def export(config_path: str, first: date, last: date, fmt: str, pbx: str | None) -> None:
        from pbx_bridge.reports import export as exporter
        from pbx_bridge.store.engine import sync_engine
        from pbx_bridge.rooms import upgrade

        if last < first:
            raise click.BadParameter("--to is before --from", param_hint="--to")
        cfg = _load(config_path)
        upgrade(cfg.store.url)
        engine = sync_engine(cfg.store.url)
        try:
            exporter.write(exporter.rows(engine, kind, first, last, cfg.tz, pbx), kind, fmt, sys.stdout)
        finally:
            engine.dispose()

    export.help = f"Print the {kind[:-1]} records of the given local days."
    return export


@cli.group()
def calls() -> None:
    """Call records: one per queued call."""


@cli.group()
def offers() -> None:
    """Offer records: one per time an agent's phone rang for a queued call."""


calls.add_command(_export_command("calls"))
offers.add_command(_export_command("offers"))


def main() -> None:
    cli(prog_name="pbx-bridge")


