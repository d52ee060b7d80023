"""The Asterisk Manager Interface boundary: one connection, kept alive, feeding events inward."""
