"""The pages' signing lives in bot/access/links.py (the Slack bot hands out the
links too); re-exported here for the callers that import it from the pages."""

from bot.access.links import BadToken, Identity, OneTimeTokens, Signer, link_url

__all__ = ["BadToken", "Identity", "OneTimeTokens", "Signer", "link_url"]
