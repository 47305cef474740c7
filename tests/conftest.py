"""Shared test setup.

Tests that need root, network namespaces or PostgreSQL skip on a developer's
laptop, but CI sets HOSTSNAP_REQUIRE_ALL_TESTS=1 and then any such skip is a
failure: nothing that proves a feature may silently vanish from CI.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_ALL = os.environ.get("HOSTSNAP_REQUIRE_ALL_TESTS") == "1"
# Collectors touch only what they declare (collectors.plugin): in tests an
# undeclared access fails the test, also in the hostsnap processes tests start.
os.environ["HOSTSNAP_STRICT_READS"] = "1"

pytest_plugins = ["tests.lab.fixtures"]


def skip_or_fail(reason: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"required in CI but unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    # Turn any skip (including pytest.importorskip in a helper) into a failure in CI.
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test is required: {report.longrepr}"


PG_DSN = os.environ.get("HOSTSNAP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_admin(sql: str) -> None:
    import subprocess

    r = subprocess.run(["psql", PG_DSN, "-v", "ON_ERROR_STOP=1", "-qc", sql],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip() or f"psql exited {r.returncode}")


@pytest.fixture
def pg_url():
    """A throwaway PostgreSQL database on the real server, dropped afterwards."""
    import secrets

    name = f"hostsnap_t_{secrets.token_hex(4)}"
    try:
        _pg_admin(f'CREATE DATABASE "{name}"')
    except (OSError, RuntimeError) as e:
        skip_or_fail(f"PostgreSQL at {PG_DSN} unavailable: {e}")
    yield f"{PG_DSN.rsplit('/', 1)[0]}/{name}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Every store test runs on both databases."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/hostsnap.db"
    return request.getfixturevalue("pg_url")
