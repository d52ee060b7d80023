"""Settings of the report pages in a browser (docs/web.md).

The session secret comes from the environment only (`PBX_BRIDGE_WEB_SECRET`), never from the YAML
file an admin may paste into a ticket; without it a random one is made at each start, so sessions
end at a restart.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field

from pbx_bridge.settings import Duration, Strict

WEB_SECRET_ENV = "PBX_BRIDGE_WEB_SECRET"
MIN_SECRET = 32  # characters: an HMAC-SHA256 key worth the name


def session_secret(env: dict[str, str]) -> bytes | None:
    """The environment's secret, or None (then one is made per start); ValueError if too short."""
    value = env.get(WEB_SECRET_ENV, "")
    if not value:
        return None
    if len(value) < MIN_SECRET:
        raise ValueError(f"{WEB_SECRET_ENV} must be at least {MIN_SECRET} characters (e.g. `openssl rand -hex 32`)")
    return value.encode()


class WebConfig(Strict):
    enabled: bool = Field(default=False, description="serve the report pages (needs wallboard.enabled: its listener)")
    users_file: Path = Field(default=Path("/etc/pbx-bridge/web-users.yaml"),
                             description="users, roles and argon2 password hashes (`pbx-bridge web hash-password`)")
    session_lifetime: Duration = Field(default=timedelta(hours=10), description="a login lasts this long")
    secure_cookie: bool = Field(default=False, description="true behind a TLS reverse proxy: the cookie is Secure")
    behind_proxy: bool = Field(default=False, description="true behind a reverse proxy on this host: the login "
                                                          "limit counts per X-Real-IP of a loopback peer")
    login_attempts: int = Field(default=5, ge=1, le=100, description="wrong passwords within login_window that lock")
    login_window: Duration = Field(default=timedelta(minutes=10))
    login_lockout: Duration = Field(default=timedelta(minutes=15), description="how long a peer or user stays locked")
    report_threads: int = Field(default=2, ge=1, le=8, description="report queries run at once (in threads)")

    def secrets(self, env: dict[str, str]) -> list[str]:
        """What logs must mask (config.secrets_of)."""
        return [env[WEB_SECRET_ENV]] if env.get(WEB_SECRET_ENV) else []


# this room's sections of the configuration, by key (config.py assembles every room's)
SECTIONS = {"web": WebConfig}
