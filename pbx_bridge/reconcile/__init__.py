"""Reconciliation with Asterisk's queue_log (issue 7, "nothing lost").

Asterisk writes every queue event to queue_log whether or not we listen. The daemon reads it back
from where it last stopped (the file, and the realtime table where a site has one), rebuilds the
calls that ended, and hands them to the store writer, which keeps the better account of each call
(store/merge.py). So calls that ended while the daemon was down or AMI was cut are recorded too.

- `lines.py`: one queue_log line, from the file or a table row;
- `builder.py`: lines in, finished call and offer records out (pure);
- `file_source.py`, `table_source.py`: reading from a saved position, rotation and truncation;
- `reconciler.py`: the daemon's `queue-log` task.
"""
