"""Who may do what, from where: [[authz]] rules per host group, channel and
user (or Slack user group). No matching rule means no.

User group membership comes from usergroups.users.list and is cached briefly
(`slack.usergroup_cache_s`): a command must not wait for Slack on every click,
and someone removed from the on-call group loses access within a minute."""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from bot.settings.slack import AuthzRule

log = logging.getLogger(__name__)

Need = Literal["view", "capture", "raw"]
_VERBS = {"view": "browse snapshots of", "capture": "capture", "raw": "see raw files of"}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


class MembershipCache:
    """user group id -> member ids, for `ttl` seconds; concurrent lookups of
    one group share a single Slack call."""

    def __init__(self, fetch: Callable[[str], Awaitable[set[str]]], ttl: float) -> None:
        self.fetch = fetch
        self.ttl = ttl
        self._cache: dict[str, tuple[float, set[str]]] = {}
        self._inflight: dict[str, asyncio.Future[set[str]]] = {}

    async def members(self, group: str) -> set[str]:
        hit = self._cache.get(group)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        fut = self._inflight.get(group)
        if fut is None:
            fut = asyncio.ensure_future(self.fetch(group))
            self._inflight[group] = fut
            try:
                users = await fut
            finally:
                self._inflight.pop(group, None)
            self._cache[group] = (time.monotonic() + self.ttl, users)
            return users
        return await asyncio.shield(fut)


def _is_usergroup(entry: str) -> bool:
    return entry.startswith("S") and entry[1:].isalnum()


class Authorizer:
    def __init__(self, rules: list[AuthzRule], members: MembershipCache) -> None:
        self.rules = rules
        self.cache = members

    async def _user_matches(self, rule: AuthzRule, user: str) -> tuple[bool, str]:
        if "*" in rule.user_groups or user in rule.user_groups:
            return True, ""
        problem = ""
        for g in rule.user_groups:
            if not _is_usergroup(g):
                continue
            try:
                if user in await self.cache.members(g):
                    return True, ""
            except Exception as e:  # Slack down, group deleted: deny, and say why
                log.warning("usergroups.users.list %s failed: %s", g, e)
                problem = f" (could not check membership of user group {g}: {e})"
        return False, problem

    async def decide(self, need: Need, *, user: str, channel: str, group: str) -> Decision:
        problem = ""
        for rule in self.rules:
            if not any(fnmatch.fnmatchcase(group, g) for g in rule.groups):
                continue
            if not any(fnmatch.fnmatchcase(channel, c) for c in rule.channels):
                continue
            if need == "capture" and not rule.capture:
                continue
            if need == "raw" and not rule.raw_files:
                continue
            ok, why = await self._user_matches(rule, user)
            if ok:
                return Decision(True)
            problem = problem or why
        what = f"group `{group}`" if group else "hosts without a group"
        return Decision(False, (
            f"You may not {_VERBS[need]} {what} from this channel: no [[authz]] rule allows "
            f"you ({user}) here{problem}. Ask whoever runs hostsnap to add one."))
