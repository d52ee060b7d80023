"""The house rules the daemon enforces as calls happen (as opposed to reports, which measure)."""
