"""Ring-twice (rules §1): the caller hears two rings, an agent's phone rings twice at most, and an
agent who lets it ring out too often is paused. Wired by wiring.py."""
