"""Where a Slack request came from, and where its answer goes."""

from __future__ import annotations

from dataclasses import dataclass

from bot.access.viewer import Viewer

#: Slack's errors for "the bot is not in that channel"
NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found", "is_archived"})


@dataclass(frozen=True)
class Origin:
    """Who asked, and where the answer goes."""

    user: str
    channel: str
    #: answer in this thread; None: a new message at the top of the channel
    thread_ts: str | None = None
    source: str = "command"  # command, mention, button
    #: for buttons: the thread the clicked message sits in (None: top level)
    message_thread_ts: str | None = None
    #: commands and buttons: answers only the requester sees, even where the
    #: bot is not a channel member
    response_url: str | None = None

    @property
    def actor(self) -> str:
        return f"slack:{self.user}"

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.actor, "slack", self.channel)
