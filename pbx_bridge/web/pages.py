"""The report pages: who may see which, the login and logout, and each page's answer.

Every page is read-only (GET) except the login and the logout (POST). A request without a valid
session gets no figure: a page answers 303 to the login form (the body says only "login
required"), and nothing is computed before the session is checked. A role sees its pages only
(`ROLE_PAGES`); another page answers 403.

Cross-site requests: the cookie is `SameSite=Strict`, so no other site's page sends it, and the
two POST forms (login, logout) also need an `Origin` (or, failing that, a `Referer`) whose host is
the request's `Host`; a POST with neither is refused. Nothing else changes state.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from html import escape
from typing import Callable
from urllib.parse import quote, urlsplit

import structlog

from pbx_bridge.pages import Request, Response
from pbx_bridge.threads import CappedThreads
from pbx_bridge.web import figures, render
from pbx_bridge.web.login import LoginGate, Outcome
from pbx_bridge.web.session import Session, Signer
from pbx_bridge.web.users import User, UsersHolder

log = structlog.get_logger(__name__)


def _report_failed(exc: BaseException) -> None:
    """A bad parameter is the browser's answer, not a failure to log."""
    if exc.__class__ is not figures.BadRequest:
        log.warning("web_report_failed", error=repr(exc)[:200])


BASE = render.BASE
HTML = "text/html; charset=utf-8"
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


@dataclass(frozen=True)
class View:
    path: str
    title: str
    fn: Callable  # figures.*_page(engine, cfg, params) -> (title, body)


VIEWS = (
    View(f"{BASE}/monthly", "Monthly", figures.monthly_page),
    View(f"{BASE}/intraday", "Intraday", figures.intraday_page),
    View(f"{BASE}/ring-twice", "Ring twice", figures.ring_twice_page),
    View(f"{BASE}/callbacks", "CALL BACK", figures.callbacks_page),
    View(f"{BASE}/nuisance", "Nuisance screens", figures.nuisance_page),
    View(f"{BASE}/nuisance/warnings", "Nuisance warnings", figures.nuisance_warnings_page),
    View(f"{BASE}/threats", "Threats", figures.threats_page),
    View(f"{BASE}/incidents", "Incidents", figures.incidents_page),
)
# lead: every page; viewer: the call-handling reports, not the lists that name callers and agents' incidents
ROLE_PAGES = {"lead": frozenset(v.path for v in VIEWS),
              "viewer": frozenset({f"{BASE}/monthly", f"{BASE}/intraday", f"{BASE}/ring-twice"})}


def _host_of(url: str) -> str | None:
    try:
        split = urlsplit(url)
    except ValueError:
        return None
    return split.netloc.lower() if split.scheme in ("http", "https") and split.netloc else None


def same_origin(req: Request) -> bool:
    """The POST came from a page of this site: its Origin (else its Referer) names the Host it was sent to."""
    host = req.headers.get("host", "").lower()
    source = req.headers.get("origin") or req.headers.get("referer") or ""
    return bool(host) and _host_of(source) == host


def safe_next(target: str | None) -> str:
    """Where to go after logging in: one of this site's report pages, never another site (`//evil`)."""
    if target and target.startswith(BASE + "/") and not target.startswith("//") and "\\" not in target \
            and not any(ord(c) < 0x21 for c in target):
        return target
    return f"{BASE}/monthly"


class WebPages:
    def __init__(self, cfg, users: UsersHolder, signer: Signer, gate: LoginGate, engine,  # noqa: ANN001
                 threads: int = 2) -> None:
        self.cfg = cfg  # the whole Config: the reports read its tz, reports, ring, nuisance sections
        self.web = cfg.web
        self.users = users
        self.signer = signer
        self.gate = gate
        self.engine = engine
        self.cookie = "__Host-pbxb_session" if self.web.secure_cookie else "pbxb_session"
        self.threads = CappedThreads("web-report", threads, on_error=_report_failed)
        self.pages_served = 0
        self.refused_no_session = 0

    # --- registry -------------------------------------------------------------------------------

    def register(self, add_page: Callable) -> None:
        """Every path this room serves, on `core.add_page`; a test walks what this registers."""
        add_page(BASE, self.index)
        add_page(f"{BASE}/login", self.login, methods=("GET", "POST"))
        add_page(f"{BASE}/logout", self.logout, methods=("POST",))
        add_page(f"{BASE}/style.css", self.style)
        for view in VIEWS:
            add_page(view.path, self._view(view))

    # --- sessions -------------------------------------------------------------------------------

    def _session(self, req: Request) -> tuple[Session, User] | None:
        value = req.cookies().get(self.cookie)
        if not value or not self.users.loaded:
            return None
        session = self.signer.verify(value)
        if session is None:
            return None
        user = self.users.current.get(session.user)
        if user is None or user.fingerprint != session.fingerprint:
            return None
        return session, user

    def _set_cookie(self, value: str, max_age: int) -> str:
        return (f"{self.cookie}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
                + ("; Secure" if self.web.secure_cookie else ""))

    def _peer(self, req: Request) -> str:
        if self.web.behind_proxy and req.peer in LOOPBACK:
            forwarded = req.headers.get("x-real-ip", "").strip()
            if forwarded and len(forwarded) <= 64:
                return forwarded
        return req.peer

    # --- answers --------------------------------------------------------------------------------

    @staticmethod
    def _html(status: int, page: str, extra: dict | None = None) -> Response:
        return Response(status, page.encode("utf-8"), HTML, {**render.headers(page), **(extra or {})})

    @staticmethod
    def _redirect(location: str, extra: dict | None = None, body: bytes = b"") -> Response:
        return Response(303, body, "text/plain; charset=utf-8",
                        {**render.headers(), "Location": location, **(extra or {})})

    def _to_login(self, req: Request) -> Response:
        self.refused_no_session += 1
        target = req.path + (f"?{req.query}" if req.query else "")
        return self._redirect(f"{BASE}/login?next={quote(target, safe='/')}", body=b"login required\n")

    def _nav(self, user: User, here: str) -> str:
        allowed = ROLE_PAGES.get(user.role, frozenset())
        return render.nav([(v.path, v.title) for v in VIEWS if v.path in allowed], here, user.name, user.role)

    def _login_page(self, status: int, message: str = "", target: str = "") -> Response:
        error = f'<p class="error" id="login-error">{escape(message)}</p>' if message else ""
        body = (f'<form class="login" method="post" action="{BASE}/login">{error}'
                f'<label for="user">User</label><input id="user" name="user" autocomplete="username" required>'
                f'<label for="password">Password</label><input id="password" name="password" type="password" '
                f'autocomplete="current-password" required>'
                f'<input type="hidden" name="next" value="{escape(safe_next(target))}">'
                f'<button type="submit" id="login">Log in</button></form>')
        return self._html(status, render.shell("pbx-bridge reports: log in", body))

    # --- pages ----------------------------------------------------------------------------------

    async def style(self, req: Request) -> Response:
        return Response(200, render.STYLESHEET.encode(), "text/css; charset=utf-8", render.headers(cache=True))

    async def index(self, req: Request) -> Response:
        found = self._session(req)
        if found is None:
            return self._to_login(req)
        allowed = [v.path for v in VIEWS if v.path in ROLE_PAGES.get(found[1].role, frozenset())]
        return self._redirect(allowed[0] if allowed else f"{BASE}/login")

    async def login(self, req: Request) -> Response:
        if req.method == "GET":
            return self._login_page(200, target=req.params().get("next", ""))
        if not same_origin(req):
            log.warning("web_login_refused_cross_site", peer=req.peer, origin=req.headers.get("origin", "")[:100])
            return Response(403, b"cross-site request refused\n", headers=render.headers())
        form = req.form()
        name, password, target = form.get("user", "").strip()[:64], form.get("password", ""), form.get("next", "")
        if not self.users.loaded:
            return self._login_page(503, "no users file loaded", target)
        user = self.users.current.get(name)
        outcome = await self.gate.check(self._peer(req), name, user.password_hash if user else None, password)
        if outcome is Outcome.OK and user is not None:
            value, session = self.signer.issue(user.name, user.fingerprint)
            log.info("web_login", user=user.name, role=user.role, peer=self._peer(req))
            return self._redirect(safe_next(target), {"Set-Cookie": self._set_cookie(
                value, int(self.signer.lifetime_s))})
        if outcome is Outcome.LOCKED:
            return self._login_page(429, "too many wrong passwords: try again later", target)
        if outcome is Outcome.BUSY:
            return self._login_page(503, "too many logins at once: try again in a moment", target)
        return self._login_page(401, "wrong user name or password", target)

    async def logout(self, req: Request) -> Response:
        if not same_origin(req):
            return Response(403, b"cross-site request refused\n", headers=render.headers())
        found = self._session(req)
        if found is not None:
            self.signer.revoke(found[0])
            log.info("web_logout", user=found[1].name)
        return self._redirect(f"{BASE}/login", {"Set-Cookie": self._set_cookie("", 0)})

    def _view(self, view: View):  # noqa: ANN202 - a page handler
        async def handler(req: Request) -> Response:
            found = self._session(req)
            if found is None:
                return self._to_login(req)
            user = found[1]
            if view.path not in ROLE_PAGES.get(user.role, frozenset()):
                return self._html(403, render.shell("Not for your role", "<p>This page is not for your role.</p>",
                                                    self._nav(user, "")))
            params = req.params()
            try:
                if view.fn is figures.monthly_page:
                    def top(month: str) -> str:
                        return self._nav(user, view.path) + render.picker(view.path, "month", "month", month, "Month")

                    _, page = await self._off_loop(view.fn, self.engine, self.cfg, params, top)
                else:
                    title, body = await self._off_loop(view.fn, self.engine, self.cfg, params)
                    page = render.shell(title, body, self._nav(user, view.path))
            except figures.BadRequest as exc:
                return self._html(400, render.shell("Bad request", f'<p class="error">{escape(str(exc))}</p>',
                                                    self._nav(user, view.path)))
            self.pages_served += 1
            return self._html(200, page)

        handler.__name__ = f"page_{view.path.rsplit('/', 1)[-1]}"
        return handler

    async def _off_loop(self, fn: Callable, *args):  # noqa: ANN202
        """A report's queries in a worker thread, at most `report_threads` at once; the slot is held
        until the thread ends even when the listener gave up on the page (its time limit)."""
        return await self.threads.run(fn, *args)

    def health(self) -> dict:
        return {"users_loaded": self.users.loaded, "pages_served": self.pages_served,
                "refused_no_session": self.refused_no_session, "reports_running": self.threads.running,
                **self.gate.health()}


def generated_secret() -> bytes:
    return secrets.token_bytes(32)
