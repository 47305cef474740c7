"""The Slack app: slash commands, mentions in threads, buttons, alert posts."""
