"""Prometheus metrics: the daemon's figures at `/metrics` on its web listener (docs/metrics.md)."""
