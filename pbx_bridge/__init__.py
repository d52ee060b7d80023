"""pbx-bridge: makes an Asterisk call center keep its house rules and know its numbers."""

__version__ = "0.1.0"
