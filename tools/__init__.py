"""Tooling for checking the project (not installed with the package)."""
