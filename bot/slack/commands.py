"""What people type: `/snapshot web-03`, `/snapshot list web-03`, and the same
words after `@hostsnap` in a thread. Parsing is pure and strict: the text is
split into words and every word is checked before anything else happens, so
nothing a user types can reach a host or a shell."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from bot.inventory import TARGET_RE
from bot.store.ids import ALPHABET, LENGTH, is_id_prefix

Verb = Literal["capture", "list", "show", "diff", "help", "watch", "unwatch"]

# Characters a shell gives meaning to. A host name never holds one, so a word
# with one is somebody pasting a command line, or probing: say so plainly.
_SHELL = re.compile(r"[;&|`$<>(){}\\'\"!]|\$\(")
# Slack wraps what it recognizes: <@U123|name>, <!subteam^S1|@sre>, <http://x|x>
_MENTION = re.compile(r"<[@!#][^>]*>")
_LINK = re.compile(r"<(?:https?://|mailto:)?([^>|]*)(?:\|([^>]*))?>")
_ALIASES: dict[str, Verb] = {
    "list": "list", "ls": "list", "show": "show", "open": "show", "diff": "diff",
    "compare": "diff", "help": "help", "capture": "capture", "snapshot": "capture",
    "watch": "watch", "unwatch": "unwatch",
}


class CommandError(ValueError):
    """Bad input; the message is shown to the user as it is."""


@dataclass
class Command:
    verb: Verb
    args: list[str] = field(default_factory=list)


def _unwrap(text: str) -> str:
    text = _MENTION.sub(" ", text)
    # a host name Slack turned into a link: keep what the user typed (the label)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse(text: str, *, max_hosts: int) -> Command:
    """`text` is what follows `/snapshot` or the bot mention."""
    text = _unwrap(text)
    if _SHELL.search(text) or "\n" in text.strip():
        raise CommandError(
            "That looks like a shell command. hostsnap never runs what you type: "
            "name inventory hosts only, e.g. `/snapshot web-03` or `/snapshot @web`."
        )
    words = text.split()
    if not words:
        return Command("help")
    verb = _ALIASES.get(words[0].lower())
    if verb is None:
        verb, args = "capture", words
    else:
        args = words[1:]
    if verb == "help":
        return Command("help")
    if verb == "capture":
        return Command("capture", _hosts(args, max_hosts))
    if verb == "watch":  # no host: the sessions kept warm now
        return Command("watch", _hosts(args, max_hosts) if args else [])
    if verb == "unwatch":
        if not args:
            raise CommandError("Name the hosts to stop keeping warm: `/snapshot unwatch web-03`")
        return Command("unwatch", _hosts(args, max_hosts))
    if verb == "list":
        if len(args) > 1:
            raise CommandError("`list` takes at most one host: `/snapshot list web-03`")
        return Command("list", _hosts(args, 1) if args else [])
    if verb == "show":
        if len(args) != 1:
            raise CommandError("`show` takes one snapshot id: `/snapshot show 7kq3m2xa`")
        return Command("show", [snapshot_id(args[0])])
    if len(args) not in (1, 2):
        raise CommandError("`diff` takes two snapshot ids (or one, to compare with the "
                           "previous snapshot of the same host): `/snapshot diff ID1 ID2`")
    return Command("diff", [snapshot_id(a) for a in args])


def _hosts(words: list[str], max_hosts: int) -> list[str]:
    if not words:
        raise CommandError("Name at least one host: `/snapshot web-03` (`/snapshot help`)")
    if len(words) > max_hosts:
        raise CommandError(
            f"{len(words)} hosts named; one command captures at most {max_hosts}. "
            "Use a group (`@web`) or split the command."
        )
    for w in words:
        if not TARGET_RE.match(w):
            raise CommandError(
                f"`{w[:60]}` is not a host name, @group or pattern "
                "(letters, digits, `. - _` and `* ? [ ]` only)."
            )
    return list(dict.fromkeys(words))


def snapshot_id(word: str) -> str:
    w = word.strip().lower()
    if not is_id_prefix(w):
        raise CommandError(
            f"`{word[:40]}` is not a snapshot id: ids are {LENGTH} characters from "
            f"`{ALPHABET}` (a prefix of 4 or more works), e.g. `/snapshot list` shows them."
        )
    return w
