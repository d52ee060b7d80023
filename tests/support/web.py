"""The report pages' fixtures shared by the unit tests and the Chromium test: a users file with a
lead and a viewer, and the form posts a browser sends."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

import yaml

LEAD, VIEWER = ("wang.li", "lead password 1"), ("zhao.min", "viewer password 2")
SECRET = "x" * 40


@lru_cache(maxsize=None)
def hashed(password: str) -> str:
    from pbx_bridge.pins import hash_pin

    return hash_pin(password)


def users_file(path: Path) -> Path:
    path.write_text(yaml.safe_dump({"users": {
        LEAD[0]: {"role": "lead", "password": hashed(LEAD[1])},
        VIEWER[0]: {"role": "viewer", "password": hashed(VIEWER[1])},
    }}), encoding="utf-8")
    return path


def post(path: str, fields: dict, cookie: str = "", origin: str | None = "http://127.0.0.1",
         host: str = "127.0.0.1") -> bytes:
    body = urlencode(fields).encode()
    extra = (f"Origin: {origin}\r\n" if origin else "") + (f"Cookie: {cookie}\r\n" if cookie else "")
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def get(path: str, cookie: str = "") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (f"Cookie: {cookie}\r\n" if cookie else "")
            + "\r\n").encode()
