"""`pbx-bridge web hash-password|check-users`: the report pages' users file (docs/web.md)."""

from __future__ import annotations

import sys

import click

from pbx_bridge.cli.base import cli

MIN_PASSWORD = 10


@cli.group("web")
def web_group() -> None:
    """The reports in a browser: users and their passwords."""


def _read_password() -> str:
    """From a prompt on a terminal (asked twice), else the first line of standard input: never argv."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return sys.stdin.readline().rstrip("\r\n")


@web_group.command("hash-password")
def hash_password() -> None:
    """Print an argon2 hash of a password for the users file (the password is read from a tty
    prompt or from standard input, never from the command line, where `ps` would show it)."""
    from pbx_bridge.pins import hash_pin

    password = _read_password()
    if len(password) < MIN_PASSWORD:
        click.echo(f"pbx-bridge: a password of at least {MIN_PASSWORD} characters", err=True)
        sys.exit(2)
    click.echo(hash_pin(password))


@web_group.command("check-users")
@click.argument("path", type=click.Path(dir_okay=False))
def check_users(path: str) -> None:
    """Validate a users file; exit 2 with `file:line: key: problem` if it is wrong."""
    from pbx_bridge.web.users import UsersFileError, parse_users

    try:
        users = parse_users(path)
    except UsersFileError as exc:
        click.echo(f"pbx-bridge: web users file error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"{path}: ok ({users.summary()})")
