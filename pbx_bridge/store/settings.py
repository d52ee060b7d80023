"""The `store:` section: the database, how records are batched, and where they wait while it is away."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from pbx_bridge.settings import DatabaseUrl, Strict


class StoreConfig(Strict):
    url: DatabaseUrl
    batch_size: int = Field(ge=1, le=10_000)
    flush_interval: float = Field(gt=0, le=60)
    max_pending: int = Field(ge=1, le=1_000_000, description="records held in memory while the database is away")
    spool_dir: Path = Field(description="where records beyond max_pending wait on disk; one per daemon")
