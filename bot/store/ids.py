"""Snapshot ids: 8 characters, easy to read aloud and type at 3 a.m. (no 0/o,
1/l/i), unique across replicas without coordination."""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LENGTH = 8
ID_RE = re.compile(rf"^[{ALPHABET}]{{4,{LENGTH}}}$")


def new_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def is_id_prefix(text: str) -> bool:
    return bool(ID_RE.match(text))
