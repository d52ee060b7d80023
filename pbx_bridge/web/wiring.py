"""The web room: the report pages on the daemon's web listener (the live room's, `wallboard.enabled`).

It sits in a layer of its own above the reports room (setup.cfg), because it shows what the reports
compute and what the rooms' stores list, through the same public functions the CLI calls.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from pbx_bridge.core import Core

log = structlog.get_logger(__name__)


def enabled(cfg) -> bool:  # noqa: ANN001 - a Config
    return cfg.web.enabled


def wire(core: Core, env: dict[str, str] | None = None):  # noqa: ANN201 - the WebPages
    from pbx_bridge.pins import PinLockout
    from pbx_bridge.store.engine import sync_engine
    from pbx_bridge.web.login import LoginGate
    from pbx_bridge.web.pages import WebPages, generated_secret
    from pbx_bridge.web.session import Signer
    from pbx_bridge.web.settings import WEB_SECRET_ENV, session_secret
    from pbx_bridge.web.users import UsersHolder, WebSetupError

    cfg = core.cfg
    web = cfg.web
    if not cfg.wallboard.enabled:
        raise WebSetupError("web.enabled needs wallboard.enabled: the report pages are served on its listener")
    try:
        secret = session_secret(dict(os.environ if env is None else env))
    except ValueError as exc:
        raise WebSetupError(str(exc)) from None
    if secret is None:
        secret = generated_secret()
        log.warning("web_session_secret_generated",
                    note=f"{WEB_SECRET_ENV} is not set: sessions end when the daemon restarts")
    users = UsersHolder(str(web.users_file))
    users.load()  # a broken file stops the start with its file:line (WebSetupError)
    gate = LoginGate(PinLockout(web.login_attempts, web.login_window.total_seconds(),
                                web.login_lockout.total_seconds()))
    engine = sync_engine(cfg.store.url)
    pages = WebPages(cfg, users, Signer(secret, web.session_lifetime.total_seconds()), gate, engine,
                     web.report_threads)
    pages.register(core.add_page)
    core.on_reload(users.reload)

    async def watch() -> None:
        try:
            await users.watch()
        finally:
            engine.dispose()

    core.add_task("web-users", watch)
    core.add_health("web", pages.health)
    return pages
