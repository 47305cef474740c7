"""The HTTP interface (aiohttp): /healthz, /metrics, Slack events (server.py),
the alert webhooks (alerts.py); adapters only."""
