"""The capture domain: one host or a fleet, bounded concurrency, one deadline,
single-flight per host (service.py); progress goes out through a port
(progress.py) that each interface implements."""
