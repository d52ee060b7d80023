"""The SQL store: SQLite (WAL) by default, PostgreSQL for sites with several PBX hosts."""
