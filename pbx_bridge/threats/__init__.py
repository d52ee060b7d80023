"""Threatening calls (rules §6 恐吓电话): the agent's *8, the recording kept, the lead told."""
