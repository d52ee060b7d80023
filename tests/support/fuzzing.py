"""Hypothesis settings for the fuzz tests, scaled from the loaded profile (tests/conftest.py)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def fuzz_settings(share: float, **over) -> settings:
    """`share` of the profile's example count: 1.0 for cheap in-memory examples, less for examples
    that each start a server."""
    values = dict(max_examples=max(5, round(settings.default.max_examples * share)), deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.filter_too_much])
    values.update(over)
    return settings(**values)
