"""Nuisance calls (rules §6): the agent's in-call warning, the evidence, and screening at the entry."""
