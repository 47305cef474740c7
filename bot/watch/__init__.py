"""The watch domain: warm SSH sessions to hosts at risk. sessions.py (the pool,
warm or cold), holds.py (holds shared by replicas), service.py (hold/release
for any asker), daemon.py (the control socket of `hostsnap watch`)."""
