"""Callback requests (virtual hold, rules §3): the offer's AGI route, the store, the placer."""
