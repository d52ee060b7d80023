"""AGI: the dialplan asks the daemon (FastAGI) or a script (classic AGI) what the rules require."""
