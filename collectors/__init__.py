"""Hosts and evidence: transports, one module per collector, and pure analysis."""
