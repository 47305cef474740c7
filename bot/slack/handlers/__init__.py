"""The Slack bot's handlers, one module per command family; bot.py routes to them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.slack.context import SlackContext


class Handlers:
    def __init__(self, bot: SlackContext) -> None:
        self.bot = bot  # the Slack side: replies, refusals, rights, collaborators
