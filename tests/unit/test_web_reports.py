"""The report pages behind their login (pbx_bridge/web): signed sessions, the users file, and every
page refused without a session, over the daemon's own web listener (WallboardServer)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner

from pbx_bridge.config import load_config
from pbx_bridge.pages import Pages
from pbx_bridge.rooms import upgrade
from pbx_bridge.web import wiring
from pbx_bridge.web.session import Signer
from pbx_bridge.web.users import UsersFileError, UsersHolder, parse_users
from tests.support.web import LEAD, SECRET, VIEWER, get, hashed, post, users_file
from tests.unit.test_reports_kpi import call, local, seed
from tests.unit.test_wallboard_server import request, started, stopped

PUBLIC = {"/reports/login", "/reports/style.css", "/reports/logout"}


# --- the signed cookie ------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_cookie_is_refused_when_tampered_expired_signed_with_another_secret_or_logged_out():
    clock = Clock()
    signer = Signer(b"k" * 32, 3600, clock)
    value, session = signer.issue("wang.li", "f1")
    assert signer.verify(value) == session
    body, mac = value.split(".")
    forged = Signer(b"k" * 32, 3600, clock).issue("admin", "f1")[0].split(".")[0]
    assert signer.verify(f"{forged}.{mac}") is None  # another payload under this signature
    assert signer.verify(f"{body}.{mac[:-2]}AA") is None
    assert signer.verify(body) is None and signer.verify("") is None and signer.verify("a.b.c") is None
    assert Signer(b"j" * 32, 3600, clock).verify(value) is None  # another secret (a restart without one set)
    clock.now += 3600
    assert signer.verify(value) is None  # expired: the expiry is inside the signed value
    clock.now -= 1800
    signer.revoke(session)
    assert signer.verify(value) is None  # logged out: dead even if copied


# --- the users file ---------------------------------------------------------------------------------

def test_the_users_file_loads_and_a_bad_one_names_file_line_and_key(tmp_path):
    path = users_file(tmp_path / "users.yaml")
    users = parse_users(str(path))
    assert users.get(LEAD[0]).role == "lead" and users.get(VIEWER[0]).role == "viewer"
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"users:\n  ann:\n    role: lead\n    password: {hashed('x' * 10)}\n"
                   f"  bob:\n    role: admin\n    password: {hashed('y' * 10)}\n")
    with pytest.raises(UsersFileError, match=r"bad\.yaml:6: users\.bob\.role"):
        parse_users(str(bad))
    bad.write_text("users:\n  ann:\n    role: lead\n    password: hunter2\n")
    with pytest.raises(UsersFileError, match=r"bad\.yaml:4: users\.ann\.password: .*argon2"):
        parse_users(str(bad))


def test_a_broken_edit_of_the_users_file_is_refused_and_the_users_in_force_stay(tmp_path):
    path = users_file(tmp_path / "users.yaml")
    holder = UsersHolder(str(path))
    holder.load()
    path.write_text("users:\n  ann: [\n")
    ok, line = holder.reload()
    assert not ok and "users.yaml:" in line and "stays in force" in line
    assert holder.current.get(LEAD[0]) is not None


def test_hash_password_reads_the_password_from_stdin_never_argv():
    from pbx_bridge.cli import cli
    from pbx_bridge.pins import verify_pin

    result = CliRunner().invoke(cli, ["web", "hash-password"], input="a long password\n")
    assert result.exit_code == 0, result.output
    assert verify_pin(result.output.strip(), "a long password")
    assert CliRunner().invoke(cli, ["web", "hash-password"], input="short\n").exit_code == 2
    assert CliRunner().invoke(cli, ["web", "hash-password", "a long password"]).exit_code != 0


# --- the pages over the listener --------------------------------------------------------------------

@pytest.fixture
def site(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    upgrade(url)
    seed(url, [call(local(d, 10, 0)) for d in range(1, 8)] + [call(local(3, 11, 0), "abandoned")])
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "ami": {"host": "127.0.0.1"}, "timezone": "Asia/Shanghai",
        "store": {"url": url, "spool_dir": str(tmp_path / "spool")},
        "wallboard": {"enabled": True, "port": 0},
        "web": {"enabled": True, "users_file": str(users_file(tmp_path / "users.yaml")), "login_attempts": 3},
    }))
    cfg = load_config(str(config), env={})
    pages, tasks = Pages(), {}
    core = SimpleNamespace(cfg=cfg, add_page=pages.add, on_reload=lambda fn: None,
                           add_task=lambda name, fn: tasks.setdefault(name, fn), add_health=lambda name, fn: None)
    web = wiring.wire(core, env={"PBX_BRIDGE_WEB_SECRET": SECRET})
    yield SimpleNamespace(pages=pages, web=web)
    web.engine.dispose()


@pytest.fixture
async def served(site):
    srv, task = await started(pages=site.pages)
    yield SimpleNamespace(port=srv.port, **vars(site))
    await stopped(task)


def registered(site) -> list[str]:
    return site.pages.paths()


async def login(port: int, who: tuple[str, str], **over) -> tuple[int, dict]:
    status, headers, _ = await request(port, post("/reports/login", {"user": who[0], "password": who[1],
                                                                     "next": "/reports/intraday"}, **over))
    return status, headers


def cookie_of(headers: dict) -> str:
    return headers["Set-Cookie"].split(";")[0]


def test_every_page_is_in_the_registry_and_each_needs_a_session(site):
    """The list the next test walks is what the room registers: a new page is covered by itself."""
    paths = registered(site)
    assert len(paths) >= 11 and set(paths) - PUBLIC
    assert all(p.startswith("/reports") for p in paths)


@pytest.mark.parametrize("cookie", ["", "pbxb_session=forged.value", "pbxb_session=", "other=1"])
async def test_every_page_without_a_valid_session_goes_to_the_login_and_shows_no_figure(served, cookie):
    for path in registered(served):
        if path in PUBLIC:
            continue
        status, headers, body = await request(served.port, get(path + "?month=2026-11", cookie))
        assert status == 303, path
        assert headers["Location"].startswith("/reports/login?next=/reports"), path
        assert body == b"login required\n", path
        assert "Set-Cookie" not in headers


async def test_the_logout_without_a_session_and_the_login_form_carry_no_figure(served):
    status, headers, body = await request(served.port, post("/reports/logout", {}))
    assert status == 303 and headers["Location"] == "/reports/login"
    status, headers, body = await request(served.port, get("/reports/login"))
    assert status == 200 and b"<table" not in body and b'type="password"' in body


async def test_a_wrong_password_or_an_unknown_user_gets_nothing_and_repeated_ones_lock(served):
    for who in ((LEAD[0], "not the password"), ("nobody", "whatever it is")):
        status, headers = await login(served.port, who)
        assert status == 401 and "Set-Cookie" not in headers
    status, headers = await login(served.port, (LEAD[0], "again wrong"))
    assert status == 429 and "Set-Cookie" not in headers  # 3 wrong from this peer: locked
    status, headers = await login(served.port, LEAD)
    assert status == 429 and "Set-Cookie" not in headers  # even the right password, while locked
    assert served.web.gate.health()["logins_failed"] == 3


async def test_a_login_post_from_another_site_or_without_origin_is_refused(served):
    for origin in ("http://evil.example", None, "null"):
        status, headers = await login(served.port, LEAD, origin=origin)
        assert status == 403 and "Set-Cookie" not in headers, origin


async def test_logged_in_pages_carry_strict_headers_and_a_logout_ends_the_copied_cookie(served):
    status, headers = await login(served.port, LEAD)
    assert status == 303 and headers["Location"] == "/reports/intraday"
    attrs = headers["Set-Cookie"].split("; ")
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= set(attrs) and "Secure" not in attrs
    cookie = cookie_of(headers)
    for path in ("/reports/monthly?month=2026-11", "/reports/intraday?date=2026-11-03", "/reports/callbacks",
                 "/reports/nuisance", "/reports/nuisance/warnings", "/reports/ring-twice?month=2026-11",
                 "/reports/threats", "/reports/incidents"):
        status, headers, body = await request(served.port, get(path, cookie))
        assert status == 200, (path, body[:300])
        csp = headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
        assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
        assert headers["Referrer-Policy"] == "same-origin"  # "no-referrer" would make the form's Origin "null"
    status, _, body = await request(served.port, get("/reports/monthly?month=2026-11", cookie))
    assert b'type="month"' in body and b'value="2026-11"' in body and b"<svg" in body
    assert (await request(served.port, get("/reports/monthly?month=13-2026", cookie)))[0] == 400
    status, headers, _ = await request(served.port, post("/reports/logout", {}, cookie))
    assert status == 303 and "Max-Age=0" in headers["Set-Cookie"]
    status, headers, body = await request(served.port, get("/reports/monthly", cookie))  # the copy kept
    assert status == 303 and body == b"login required\n"


async def test_a_viewer_sees_the_reports_but_not_the_lists(served):
    status, headers = await login(served.port, VIEWER)
    cookie = cookie_of(headers)
    assert (await request(served.port, get("/reports/ring-twice", cookie)))[0] == 200
    for path in ("/reports/callbacks", "/reports/nuisance", "/reports/threats", "/reports/incidents"):
        status, _, body = await request(served.port, get(path, cookie))
        assert status == 403 and b"<table" not in body, path


async def test_after_login_the_next_page_is_this_sites_never_another(served):
    status, headers, _ = await request(served.port, post("/reports/login", {
        "user": LEAD[0], "password": LEAD[1], "next": "//evil.example/x"}))
    assert status == 303 and headers["Location"] == "/reports/monthly"


async def test_a_changed_password_ends_the_sessions_made_before_it(served, tmp_path):
    status, headers = await login(served.port, LEAD)
    cookie = cookie_of(headers)
    path = tmp_path / "users.yaml"
    data = yaml.safe_load(path.read_text())
    data["users"][LEAD[0]]["password"] = hashed("a new password 3")
    path.write_text(yaml.safe_dump(data))
    assert served.web.users.reload()[0]
    assert (await request(served.port, get("/reports/monthly", cookie)))[0] == 303


def test_the_pages_need_the_wallboard_listener_and_a_long_enough_secret(site, tmp_path):
    from pbx_bridge.web.users import WebSetupError

    cfg = site.web.cfg
    off = SimpleNamespace(cfg=cfg.model_copy(update={"wallboard": cfg.wallboard.model_copy(update={"enabled": False})}))
    with pytest.raises(WebSetupError, match="wallboard.enabled"):
        wiring.wire(off, env={})
    core = SimpleNamespace(cfg=cfg, add_page=Pages().add)
    with pytest.raises(WebSetupError, match="at least 32"):
        wiring.wire(core, env={"PBX_BRIDGE_WEB_SECRET": "short"})


async def test_password_checks_run_off_the_loop_capped_and_a_flood_beyond_the_queue_is_busy():
    import threading

    from pbx_bridge.pins import PinLockout
    from pbx_bridge.web.login import LoginGate, Outcome

    release = threading.Event()
    started_checks = []

    def slow_verify(password_hash, password):  # noqa: ANN001 - stands for argon2, holding its thread
        started_checks.append(password)
        release.wait(10)
        return password == "right"

    gate = LoginGate(PinLockout(100, 60, 60), concurrent=2, waiting=2, verify=slow_verify)
    checks = [asyncio.create_task(gate.check(f"10.0.0.{i}", "ann", "$argon2id$x", "right")) for i in range(4)]
    async with asyncio.timeout(5):
        while len(started_checks) < 2:  # the loop runs meanwhile: the checks are in threads
            await asyncio.sleep(0.01)
    assert await gate.check("10.0.0.9", "ann", "$argon2id$x", "right") is Outcome.BUSY
    assert len(started_checks) == 2  # two at once, two waiting for a slot
    release.set()
    assert await asyncio.gather(*checks) == [Outcome.OK] * 4
    assert gate.health()["logins_refused_busy"] == 1


async def test_behind_tls_the_cookie_is_secure_and_the_login_limit_counts_the_proxys_client(site):
    web = site.web
    from pbx_bridge.pins import PinLockout

    web.web = web.web.model_copy(update={"secure_cookie": True, "behind_proxy": True})
    web.cookie = "__Host-pbxb_session"
    web.gate.lockout = PinLockout(1, 600, 600)
    srv, task = await started(pages=site.pages)
    try:
        status, headers = await login(srv.port, LEAD)
        assert status == 303
        assert headers["Set-Cookie"].startswith("__Host-pbxb_session=") and "; Secure" in headers["Set-Cookie"]
        raw = post("/reports/login", {"user": VIEWER[0], "password": "wrong"}).replace(
            b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\r\nX-Real-IP: 203.0.113.7\r\n")
        assert (await request(srv.port, raw))[0] == 429  # one wrong password locks, at the client's address
        assert web.gate.lockout.locked("peer:203.0.113.7") and not web.gate.lockout.locked("peer:127.0.0.1")
    finally:
        await stopped(task)
