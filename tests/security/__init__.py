"""Adversarial input classes as properties: host keys, config, rendered text, redaction, alert intake, dump input."""
