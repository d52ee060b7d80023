"""Incidents (rules §8): failures the daemon sees first, opened and closed by itself, for the review."""
