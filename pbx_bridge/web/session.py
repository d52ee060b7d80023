"""Sessions as a signed cookie: no session table, and nothing a browser can forge or stretch.

The cookie's value is `base64url(json).base64url(HMAC-SHA256(secret, json))`; the JSON holds the
user, the user's fingerprint (role and password hash: a changed password ends older sessions), a
random id and the expiry, all under the signature. A tampered value, another secret's, or an
expired one is refused the same way: no session. Logging out forgets the session's id until its
expiry (kept in memory, bounded), so the cookie is dead even if it was copied; a restart forgets
that list, but a restart without `PBX_BRIDGE_WEB_SECRET` also changes the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Callable

MAX_REVOKED = 10_000


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    user: str
    fingerprint: str
    sid: str
    expires: int  # unix seconds


class Signer:
    def __init__(self, secret: bytes, lifetime_s: float, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("a session secret of at least 16 bytes")
        self._secret = secret
        self.lifetime_s = lifetime_s
        self.clock = clock
        self._revoked: dict[str, int] = {}

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def issue(self, user: str, fingerprint: str) -> tuple[str, Session]:
        session = Session(user, fingerprint, secrets.token_urlsafe(16), int(self.clock() + self.lifetime_s))
        payload = json.dumps({"u": session.user, "f": session.fingerprint, "i": session.sid, "e": session.expires},
                             separators=(",", ":"), ensure_ascii=False).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}", session

    def verify(self, value: str) -> Session | None:
        """The session the value carries, or None: malformed, tampered, another secret's, expired, logged out."""
        body, sep, mac = value.partition(".")
        if not sep or len(value) > 1024:
            return None
        try:
            payload, given = _unb64(body), _unb64(mac)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(self._mac(payload), given):
            return None
        try:
            data = json.loads(payload)
            session = Session(str(data["u"]), str(data["f"]), str(data["i"]), int(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires <= self.clock() or session.sid in self._revoked:
            return None
        return session

    def revoke(self, session: Session) -> None:
        now = self.clock()
        for sid in [s for s, until in self._revoked.items() if until <= now]:
            del self._revoked[sid]
        while len(self._revoked) >= MAX_REVOKED:
            self._revoked.pop(next(iter(self._revoked)))
        self._revoked[session.sid] = session.expires
