"""The Slack fixtures (a fake Slack, the bot as `serve` runs it, its store):
snapshot views are compared across interfaces."""

from tests.slack.conftest import bot, bot_factory, db_url, fake, store  # noqa: F401
