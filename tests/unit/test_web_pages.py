"""Pages other rooms add to the daemon's web listener (pbx_bridge/pages.py): found by path, given
their body, their failures answered 500 without ending the listener."""

from __future__ import annotations

import pytest

from pbx_bridge.pages import Pages, Request, Response
from tests.unit.test_wallboard_server import get, request, started, stopped


async def echo(req: Request) -> Response:
    return Response(200, f"{req.method} {req.path} {req.params()} {req.form()} {req.cookies()}".encode(),
                    headers={"Content-Security-Policy": "default-src 'none'"})


async def broken(req: Request) -> Response:
    raise RuntimeError("a page's bug")


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def test_an_exact_path_wins_over_a_prefix_and_the_longer_prefix_over_the_shorter():
    pages = Pages()
    pages.add("/reports", echo, prefix=True)
    pages.add("/reports/monthly", echo, prefix=True)
    pages.add("/reports/login", broken)
    assert pages.find("/reports/login").handler is broken
    assert pages.find("/reports/monthly/2026-11").path == "/reports/monthly"
    assert pages.find("/reports/x").path == "/reports"
    assert pages.find("/reportsx") is None and pages.find("/") is None
    with pytest.raises(ValueError):
        pages.add("/reports", echo)


async def test_a_page_gets_its_query_form_and_cookies_and_sets_its_own_headers():
    pages = Pages()
    pages.add("/p", echo, methods=("GET", "POST"))
    srv, task = await started(pages=pages)
    try:
        status, headers, body = await request(srv.port, post("/p?month=2026-11", b"user=ann&password=x",
                                                             "Cookie: s=abc; t=1\r\n"))
        assert status == 200
        assert body == b"POST /p {'month': '2026-11'} {'user': 'ann', 'password': 'x'} {'s': 'abc', 't': '1'}"
        assert headers["Content-Security-Policy"] == "default-src 'none'"
        assert headers["X-Content-Type-Options"] == "nosniff"
    finally:
        await stopped(task)


async def test_a_method_the_page_does_not_take_and_a_body_too_large_are_refused():
    pages = Pages()
    pages.add("/p", echo)
    srv, task = await started(pages=pages)
    try:
        assert (await request(srv.port, post("/p", b"x")))[0] == 405
        pages.add("/q", echo, methods=("POST",))
        assert (await request(srv.port, post("/q", b"x" * 20000)))[0] == 413
        chunked = b"POST /q HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
        assert (await request(srv.port, chunked))[0] == 411
        assert (await request(srv.port, post("/", b"x")))[0] == 405  # the wallboard's files stay GET only
    finally:
        await stopped(task)


async def test_a_page_that_raises_is_answered_500_and_the_listener_goes_on():
    pages = Pages()
    pages.add("/broken", broken)
    srv, task = await started(pages=pages)
    try:
        assert (await request(srv.port, get("/broken")))[0] == 500
        assert (await request(srv.port, get("/")))[0] == 200
        assert srv.health()["page_errors"] == 1
    finally:
        await stopped(task)
