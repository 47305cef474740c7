"""A local fake Slack for end-to-end tests (see server.py)."""

from tests.fakeslack.server import (
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER,
    SIGNING_SECRET,
    FakeSlack,
    Msg,
    check_blocks,
    sign,
)

__all__ = ["APP_TOKEN", "BOT_TOKEN", "BOT_USER", "SIGNING_SECRET", "FakeSlack", "Msg",
           "check_blocks", "sign"]
