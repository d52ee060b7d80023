"""What the center reads: exports now, the KPI reports later."""
