"""The escalation room: a ladder per queue that adds supervisors, raises priorities and offers the
callback earlier when calls pile up, and undoes it, last step first, once the queue is calm (rules §3)."""
