"""Secrets never leave for Slack; the rest of the evidence stays byte-for-byte."""

from __future__ import annotations

import pytest

from bot.redact import MASK, redact, redact_bytes, redact_text


@pytest.mark.parametrize(("raw", "secret"), [
    ("java -Dspring.datasource.password=hunter2 -jar app.jar", "hunter2"),
    ("mysqld --password hunter2 --port 3306", "hunter2"),
    ("app --api-key=AbCdEf123456 --verbose", "AbCdEf123456"),
    ("DB_PASSWORD=s3cr3t\x00HOME=/root", "s3cr3t"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG\x00PATH=/bin", "wJalrXUtnFEMI/K7MDENG"),
    ("curl https://bob:pa55w0rd@example.com/x", "pa55w0rd"),
    ("GET /hook?token=abcdef123&q=1", "abcdef123"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9abc", "eyJhbGciOiJIUzI1NiJ9abc"),
    ("X-Auth-Token: 0123456789abcdef", "0123456789abcdef"),
    ('{"client_secret": "quoted value"}', "quoted value"),
    ("slack xoxb-1234567890-abcdefghij in a log line", "xoxb-1234567890-abcdefghij"),
    ("key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
    ("pat ghp_abcdefghijklmnopqrstuvwxyz0123 here", "ghp_abcdefghijklmnopqrstuvwxyz0123"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----",
     "b3BlbnNzaC1rZXk"),
])
def test_secret_is_hidden(raw: str, secret: str) -> None:
    out, n = redact_text(raw)
    assert secret not in out
    assert MASK in out
    assert n >= 1


def test_keys_and_structure_stay() -> None:
    out = redact("java -Xmx2g -Ddb.password=x1 -Dserver.port=8080 -jar app.jar")
    assert out == f"java -Xmx2g -Ddb.password={MASK} -Dserver.port=8080 -jar app.jar"
    env = redact("A=1\x00API_TOKEN=t0k3n\x00B=2")
    assert env == f"A=1\x00API_TOKEN={MASK}\x00B=2"  # NUL separators kept: still an environ
    assert redact("https://u:p4ss@h/x") == f"https://u:{MASK}@h/x"


@pytest.mark.parametrize("clean", [
    "Threads:\t31412\nMax processes  4096  4096  processes",
    "pid 811 java (app) 3 990 threads cgroup /system.slice/partner-bridge.service",
    "10.0.0.5:8080 TIME_WAIT 60000 ip_local_port_range 32768 60999",
    "https://example.com/path?page=2",
    "user=alice host=web-03 port=22",
])
def test_evidence_without_secrets_is_unchanged(clean: str) -> None:
    assert redact_text(clean) == (clean, 0)


def test_already_redacted_is_not_counted_again() -> None:
    once, n1 = redact_text("--token=abcdef")
    twice, n2 = redact_text(once)
    assert (n1, n2) == (1, 0)
    assert twice == once


def test_bytes_undecodable_pass_through() -> None:
    data = b"\xff\xfe binary \x00 password=hunter2 \x80"
    out, n = redact_bytes(data)
    assert n == 1
    assert b"hunter2" not in out
    assert out.startswith(b"\xff\xfe binary \x00 password=")
    assert out.endswith(b" \x80")
