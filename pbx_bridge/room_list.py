"""The feature rooms, by name: the one list a new feature adds a line to (docs/architecture.md).

Names only, importing nothing, so that every layer that gathers something from the rooms can read
it: rooms.py (records, tables, migrations, wiring) and config.py (each room's settings sections and
packaged defaults). The order is the order the daemon wires them, so the order each event, record
and AMI login reaches them; a room that uses another's shared part (core.live, core.outbound,
core.rota) comes after it.
"""

ROOMS = (
    "live",  # live state: MQTT, wallboard
    "calls",  # the agents' outbound calls and phone book
    "rollups",  # the reports' per-half-hour sums, kept in the store writer's transaction
    "ring_twice",
    "rota",  # shared by voicemail and agents: the rota and the PIN gate
    "incidents",  # before agents: the gap's incident is open when the agents' recovery tells its repairs
    "voicemail",
    "agents",
    "nuisance",
    "callbacks",
    "threats",  # rules §6: the agent's *8 (uses core.live, core.outbound)
    "escalation",  # rules §3: the ladder per queue (after callbacks, whose offer it may bring forward)
    "qa",  # call monitoring: after rota (the PIN gate)
    "reports",  # the scheduler
    "reconcile",  # queue_log
    "metrics",  # Prometheus: reads every room's health at scrape time
    "web",  # the reports in a browser (a layer above the reports room, setup.cfg)
)
