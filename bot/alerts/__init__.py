"""Alert intake: Alertmanager, Grafana and generic JSON webhooks on the bot's
HTTP server turn alerts into captures, posted into the route's channel.

settings (config), payloads (schemas, one normalized Alert), auth (bearer,
basic, Grafana HMAC), hosts (labels -> inventory host), routing (which alerts
capture what, where), ledger (the database: de-duplication, cooldown and
budget that hold across replicas), service (the decisions), slack (messages),
web (the aiohttp side)."""
