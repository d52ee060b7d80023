"""The moments the reports bound their queries with, as each database compares them."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from pbx_bridge.store.days import db_bound


def test_a_local_moment_is_bounded_in_utc_on_sqlite_not_stripped_of_its_zone():
    local = datetime(2026, 11, 3, 16, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert db_bound(local, "sqlite") == datetime(2026, 11, 3, 8, 0)
    assert db_bound(local.astimezone(timezone.utc), "sqlite") == datetime(2026, 11, 3, 8, 0)
    assert db_bound(local, "postgresql") == local
