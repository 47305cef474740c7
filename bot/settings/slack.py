"""Slack and authorization settings ([slack] and [[authz]] in the config)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SlackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is an error, never a default

    bot_token: str | None = None  # xoxb-…, or HOSTSNAP_SLACK__BOT_TOKEN / SLACK_BOT_TOKEN
    app_token: str | None = None  # xapp-… for Socket Mode (or SLACK_APP_TOKEN)
    signing_secret: str | None = None  # HTTP mode (or SLACK_SIGNING_SECRET)
    mode: Literal["socket", "http"] = "socket"
    #: Web API base URL; tests point it at a local fake Slack
    api_base_url: str = "https://slack.com/api/"
    http_host: str = "127.0.0.1"
    http_port: int = 3000
    #: the slash command the app manifest declares
    command: str = "/snapshot"
    #: hosts one command may capture (the inventory's capture.max_hosts still applies)
    max_hosts: int = Field(default=10, ge=1, le=50)
    #: seconds between two updates of one progress message (Slack: ~1/s per message)
    update_interval: float = Field(default=1.0, ge=0.0)
    #: messages a channel may receive in a burst, then one per `post_interval` seconds
    post_burst: int = Field(default=5, ge=1)
    post_interval: float = Field(default=1.0, ge=0.0)
    #: how long user group memberships (usergroups.users.list) are trusted
    usergroup_cache_s: float = Field(default=60.0, ge=0.0)
    #: how often messages Slack could not take (outage) are retried
    retry_interval: float = Field(default=15.0, gt=0.0)
    #: Web API timeout per call, and retries on 429 (Retry-After is honoured)
    api_timeout: int = Field(default=10, ge=1)
    rate_limit_retries: int = Field(default=3, ge=0)
    #: post per-finding details and collector sections in the thread automatically
    details_in_thread: bool = True
    #: on SIGTERM, seconds running captures may take to finish before they are cut
    stop_grace: float = Field(default=10.0, ge=0.0)
    #: raw files bigger than this are cut (the stored evidence is kept whole)
    max_upload_bytes: int = Field(default=5_000_000, ge=1024)

    def resolved(self) -> SlackSettings:
        """Fill tokens from Slack's usual environment variables when unset."""
        return self.model_copy(update={
            "bot_token": self.bot_token or os.environ.get("SLACK_BOT_TOKEN"),
            "app_token": self.app_token or os.environ.get("SLACK_APP_TOKEN"),
            "signing_secret": self.signing_secret or os.environ.get("SLACK_SIGNING_SECRET"),
        })


class AuthzRule(BaseModel):
    """Who may capture which hosts, from where. No rule matching = refused.

    A rule matches a request when the host's group matches one of `groups`
    (globs), the channel one of `channels` (ids or globs), and the user is
    listed in `user_groups` (user ids, or user group ids `S…` whose members
    Slack lists). A matching rule lets people browse that group's snapshots;
    `capture` lets them capture, `raw_files` lets them upload raw dumps.

    All three lists must be written out: a rule that names no hosts, no
    channels or no people is refused at load, never read as "everyone"
    (`"*"` says "any" explicitly).
    """

    model_config = ConfigDict(extra="forbid")  # `user = [...]` must not widen a rule

    groups: list[str] = Field(min_length=1)  # host groups (globs)
    channels: list[str] = Field(min_length=1)  # channel ids (globs)
    user_groups: list[str] = Field(min_length=1)  # usergroup ids or user ids
    capture: bool = True  # may capture (false: browse only)
    raw_files: bool = False  # may see raw dumps

    @field_validator("groups", "channels", "user_groups")
    @classmethod
    def _named(cls, v: list[str]) -> list[str]:
        if any(not e.strip() for e in v):
            raise ValueError("an empty entry names no one: write the id, or \"*\" for any")
        return v
