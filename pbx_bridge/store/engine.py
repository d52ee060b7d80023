"""Engines for one store URL: a sync one for migrations and the CLI, an async one for the daemon.

The admin writes one URL (`sqlite:////var/lib/...` or `postgresql://...`); the drivers are ours to
choose: sqlite3/aiosqlite and psycopg 3 (which serves both the sync and the async engine).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_SYNC = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}
_ASYNC = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}


def _backend(url: URL) -> str:
    backend = url.get_backend_name()
    if backend not in _SYNC:
        raise ValueError(f"unsupported store {backend!r}: use sqlite:///PATH or postgresql://...")
    return backend


def safe_url(url: str) -> str:
    """The URL as it may appear in a log line: no password."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - SQLAlchemy hook
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _prepare(url: str, drivers: dict[str, str]) -> tuple[URL, str]:
    parsed = make_url(url)
    backend = _backend(parsed)
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return parsed.set(drivername=drivers[backend]), backend


def sync_engine(url: str) -> Engine:
    parsed, backend = _prepare(url, _SYNC)
    engine = create_engine(parsed, pool_pre_ping=True)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def async_engine(url: str) -> AsyncEngine:
    parsed, backend = _prepare(url, _ASYNC)
    kwargs = {"pool_pre_ping": True}
    if backend == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 5}
    engine = create_async_engine(parsed, **kwargs)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine
