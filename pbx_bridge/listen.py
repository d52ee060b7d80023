"""Listening sockets the daemon opens (FastAGI, the wallboard page).

A port that cannot be taken at start is a configuration problem for the admin, not a crash:
it is raised as ListenError, which the command turns into one line and exit status 2.
"""

from __future__ import annotations


class ListenError(Exception):
    """A listener could not bind: `<what>: cannot listen on <host>:<port>: <reason>`."""
