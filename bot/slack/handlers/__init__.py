"""The Slack bot's handlers, one module per command family; bot.py routes to them."""
