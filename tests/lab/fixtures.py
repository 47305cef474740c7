"""pytest plugin: the `lab` (one per session) and a fresh `host` per test.

Loaded by tests/conftest.py (`pytest_plugins = ["tests.lab.fixtures"]`). Where the
lab cannot run (not root, no `ip netns`, ...) the fixtures skip, or fail in CI
(tests.conftest.skip_or_fail).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Generator, Iterator

import pytest

from tests.lab.hosts import Lab, LabUnavailable, TestHost, unavailable_reason

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_serial = itertools.count(1)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None],
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _skip_or_fail(reason: str) -> None:
    from tests.conftest import skip_or_fail

    skip_or_fail(reason)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    reason = unavailable_reason()
    if reason:
        _skip_or_fail(reason)
    try:
        the_lab = Lab(tmp_path_factory.mktemp("lab"))
    except LabUnavailable as e:
        _skip_or_fail(str(e))
        raise  # not reached
    try:
        yield the_lab
    finally:
        the_lab.close()


@pytest.fixture
def host(lab: Lab, request: pytest.FixtureRequest) -> Iterator[TestHost]:
    """A fresh test host for this test (unique name), removed afterwards."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().removeprefix("test_"))
    name = f"t{next(_serial)}-{slug.strip('-')[:24].strip('-')}"
    h = lab.add_host(name)
    try:
        yield h
    finally:
        rep = request.node.stash.get(_REPORTS, {}).get("call")
        if rep is not None and rep.failed:
            request.node.add_report_section("teardown", f"sshd log of {h.name}", h.log_tail())
        lab.remove_host(h)
