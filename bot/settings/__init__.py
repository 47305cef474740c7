"""Configuration sections that are not the file loader itself (bot/config.py)."""
