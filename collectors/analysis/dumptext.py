"""Turn captured dump bytes into clean text: decode, demultiplex, strip log prefixes.

Dumps arrive from container logs (CRI `2024-01-01T00:00:00Z stdout F `, docker/podman
`--timestamps`), from a JVM's stdout after SIGQUIT, over CRLF-mangling tools, or
truncated. Every step here is a whole-text C-speed operation (bytes.decode, str.replace,
one compiled re.sub), never a Python loop per line: this runs on 100 MB dumps.
"""

from __future__ import annotations

import json
import re

# A line that certainly belongs to a dump; whatever precedes it on its line is a prefix.
_ANCHOR = re.compile(
    r'Full thread dump |goroutine profile: total \d|goroutine \d+ (?:gp=\S+ m=\S+ )?\[|'
    r'"[^"\n]{0,200}" (?:#\d+ |daemon |prio=|os_prio=)'
)
_TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
_CRI = re.compile(rf"{_TS} (?:stdout|stderr) [FP] ")
_CRI_FULL = re.compile(rf"(?m)^{_TS} (?:stdout|stderr) F ")
# A CRI partial record: its text continues on the next record, without a newline.
_CRI_PARTIAL = re.compile(rf"(?m)^{_TS} (?:stdout|stderr) P (.*)\n")
_DOCKER_TS = re.compile(rf"{_TS} ")
_VARIABLE = re.compile(r"(0x[0-9a-fA-F]+|\d+)")


def decode(data: bytes | str) -> tuple[str, list[str]]:
    """bytes in, text out; bad UTF-8 is replaced and reported, never raised."""
    warnings: list[str] = []
    if isinstance(data, str):
        text = data
    else:
        if data[:1] in (b"\x01", b"\x02") and data[1:4] == b"\x00\x00\x00":
            data = _demux_docker(data)
            warnings.append("demultiplexed a docker log stream")
        text = data.decode("utf-8", errors="replace")
        bad = text.count("\ufffd")
        if bad:
            warnings.append(f"{bad} invalid UTF-8 sequence(s) replaced")
    if "\x00" in text:
        text = text.replace("\x00", "")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, warnings


def _demux_docker(data: bytes) -> bytes:
    """The Engine API's log stream for a non-TTY container: 8-byte frame headers
    (stream, 0, 0, 0, big-endian size) before each chunk."""
    out: list[bytes] = []
    i, n = 0, len(data)
    while i + 8 <= n and data[i] in (0, 1, 2) and data[i + 1 : i + 4] == b"\x00\x00\x00":
        size = int.from_bytes(data[i + 4 : i + 8], "big")
        out.append(data[i + 8 : i + 8 + size])
        i += 8 + size
    if i < n:
        out.append(data[i:])
    return b"".join(out)


def strip_log_prefix(text: str) -> tuple[str, str]:
    """Remove a per-line log prefix found in front of the dump's first anchor line.

    Returns (text, what was stripped or ""). A generic prefix (a syslog/journal stamp,
    `app-1  | `) becomes a regex with its digit runs and hex addresses generalized, and is
    used only if the lines after the anchor carry it too."""
    m = _ANCHOR.search(text)
    if not m:
        return text, ""
    start = text.rfind("\n", 0, m.start()) + 1
    prefix = text[start : m.start()]
    if not prefix or prefix.isspace():
        return text, ""
    if _CRI.fullmatch(prefix):
        text = _CRI_FULL.sub("", text)
        if " P " in text:
            text = _CRI_PARTIAL.sub(r"\1", text)
        return text, "CRI log prefix"
    if _DOCKER_TS.fullmatch(prefix):
        return re.sub(rf"(?m)^{_TS} ", "", text), "log timestamp prefix"
    pattern = "".join(
        re.escape(part) if i % 2 == 0 else (r"0x[0-9a-fA-F]+" if part[:2] == "0x" else r"\d+")
        for i, part in enumerate(_VARIABLE.split(prefix))
    )
    rx = re.compile(rf"(?m)^{pattern}")
    following = text[m.end() : m.end() + 4000].split("\n")[1:6]
    if sum(1 for line in following if rx.match(line)) < min(2, len(following)):
        return text, ""
    return rx.sub("", text), f"log prefix {prefix.strip()!r}"


_JSON_LOG = re.compile(r'\A\s*\{"log": ?"')


def unwrap_json_log(text: str) -> tuple[str, bool]:
    """docker's json-file log, the file on the host (/var/lib/docker/containers/ID/
    ID-json.log): one `{"log":"...\\n","stream":"stdout","time":"..."}` per line, a
    long line split over several records. Their "log" texts, joined, are the output.
    The lines are decoded as one JSON array (in C, not line by line); a damaged line
    (the file cut mid-record) makes it fall back to decoding line by line."""
    if not _JSON_LOG.match(text):
        return text, False
    body = text.strip()
    try:
        records = json.loads("[" + body.replace("}\n{", "},{") + "]")
    except ValueError:
        records = []
        for line in body.split("\n"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    logs = [r["log"] for r in records if isinstance(r, dict) and isinstance(r.get("log"), str)]
    out = "".join(logs)
    return (out.replace("\r\n", "\n") if "\r" in out else out), True


def prepare(data: bytes | str) -> tuple[str, list[str]]:
    """decode + strip a log prefix; the warnings say what was repaired."""
    text, warnings = decode(data)
    text, unwrapped = unwrap_json_log(text)
    if unwrapped:
        warnings.append("read a docker json-file log")
    text, stripped = strip_log_prefix(text)
    if stripped:
        warnings.append(f"stripped {stripped}")
    return text, warnings
