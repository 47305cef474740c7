"""Redaction of secrets before anything leaves for Slack (or any other sink).

Pure: text in, text out. Raw evidence holds command lines (`/proc/<pid>/cmdline`,
NUL-separated), environments (`/proc/<pid>/environ`), URLs and log lines; any of
them can carry a password or a token. We redact by *shape* (known token
formats, `user:pass@` in URLs, PEM private keys) and by *name* (a value whose
key says password/secret/token/...), and keep everything else byte-for-byte so
the evidence stays useful. It errs on the side of hiding: a false positive
costs one value, a false negative leaks a credential into a chat channel.
"""

from __future__ import annotations

import re
from collections.abc import Callable

MASK = "[REDACTED]"

# Words that make the value next to them a secret. Matched inside a longer key
# too: DB_PASSWORD, spring.datasource.password, --api-key, X-Auth-Token.
_SECRET_WORD = (
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_.-]?key|apikey|access[_.-]?key|"
    r"private[_.-]?key|client[_.-]?secret|credentials?|auth(?:orization)?|session[_.-]?id|"
    r"cookie|signing[_.-]?key)"
)
_KEY = rf"[A-Za-z0-9_.\-]*{_SECRET_WORD}[A-Za-z0-9_.\-]*"
# A value ends at whitespace, NUL (cmdline/environ separator), quote, & or ;.
_VAL = r"[^\s\x00\"'&;,]+"

_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.S,
)
# Shapes that are secrets wherever they appear.
_TOKENS = re.compile(
    r"\b(?:"
    r"xox[abposre]-[A-Za-z0-9-]{8,}"  # Slack bot/user/app tokens
    r"|xapp-[A-Za-z0-9-]{8,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|glpat-[A-Za-z0-9_-]{20,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|sk-[A-Za-z0-9_-]{20,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
    r")"
)
# scheme://user:password@host -> scheme://user:[REDACTED]@host
_URL_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@\x00]+:)([^\s@/\x00]+)(@)")
# Authorization: Bearer abc / Basic abc (headers, curl -H, logs)
_AUTH_HEADER = re.compile(r"(?i)(\b(?:bearer|basic|token)\s+)([A-Za-z0-9._~+/=-]{8,})")
# KEY=VALUE, key: value, --key=value, -Dkey=value, ?key=value&, "key": "value"
_ASSIGN = re.compile(
    rf"(?i)((?<![A-Za-z0-9])-{{0,2}}{_KEY}[\"']?\s*[=:]\s*)"
    # "Authorization: Bearer x": the scheme word stays, _AUTH_HEADER hides x
    rf"(?!(?:bearer|basic|token)\s)(\"[^\"]*\"|'[^']*'|{_VAL})"
)
# --password VALUE (the flag and its value are separate argv entries)
_FLAG_SPACE = re.compile(rf"(?i)((?:^|[\s\x00])--?{_KEY}[\s\x00]+)(?!-)({_VAL})")

_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (_PEM, lambda m: "-----BEGIN PRIVATE KEY-----" + MASK + "-----END PRIVATE KEY-----"),
    (_URL_USERINFO, lambda m: m.group(1) + MASK + m.group(3)),
    (_AUTH_HEADER, lambda m: m.group(1) + MASK),
    (_ASSIGN, lambda m: m.group(1) + _mask_value(m.group(2))),
    (_FLAG_SPACE, lambda m: m.group(1) + MASK),
    (_TOKENS, lambda m: MASK),
]


def _mask_value(v: str) -> str:
    if v == MASK or v.strip("\"'") == MASK:
        return v
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return v[0] + MASK + v[0]
    return MASK


def redact_text(text: str) -> tuple[str, int]:
    """Returns the redacted text and how many secrets were hidden."""
    hidden = 0

    def counted(repl: Callable[[re.Match[str]], str]) -> Callable[[re.Match[str]], str]:
        def sub(m: re.Match[str]) -> str:
            nonlocal hidden
            out = repl(m)
            # a value an earlier rule already masked is matched again: not a new secret
            hidden += out != m.group(0)
            return out
        return sub

    for pattern, repl in _RULES:
        text = pattern.sub(counted(repl), text)
    return text, hidden


def redact(text: str) -> str:
    return redact_text(text)[0]


def redact_bytes(data: bytes) -> tuple[bytes, int]:
    """Raw artifacts are bytes; undecodable bytes pass through unchanged."""
    text = data.decode("utf-8", errors="surrogateescape")
    out, n = redact_text(text)
    return out.encode("utf-8", errors="surrogateescape"), n
