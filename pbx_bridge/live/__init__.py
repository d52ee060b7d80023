"""Live queue state for wallboards."""
