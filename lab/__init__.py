"""pbx-bridge lab: a real Asterisk 22 (Debian sid chroot) for tests and the demo.

    from lab import Lab, traffic
    lab = Lab().start()
    with lab.ami() as ami:
        call = traffic.answered(ami)
    lab.stop()
"""
from .ami import AMI, Recorder, parse_message, split_messages  # noqa: F401
from .core import Lab, LabError  # noqa: F401
