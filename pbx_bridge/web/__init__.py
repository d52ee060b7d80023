"""The reports in a browser: read-only pages behind a login, on the daemon's web listener (docs/web.md)."""
