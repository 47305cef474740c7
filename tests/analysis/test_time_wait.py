"""TIME_WAIT_EXHAUSTION is judged against ip_local_port_range, not an absolute count:
700 TIME_WAIT to one remote out of a 1 000-port range runs out where 28 000 ports do not."""

from __future__ import annotations

import pytest

from collectors.analysis.findings import Severity
from collectors.analysis.hostmodels import Endpoint, NetworkSummary
from collectors.analysis.hostrules import network_findings
from collectors.analysis.thresholds import HostThresholds
from tests.integration.helpers import service_for

T = HostThresholds()


def _net(count: int, port_range: tuple[int, int], others: int = 0) -> NetworkSummary:
    return NetworkSummary(
        time_wait=count + others, port_range=port_range,
        states={"TIME_WAIT": count + others, "ESTABLISHED": 12},
        top_time_wait_remotes=[Endpoint(endpoint="10.0.0.5:8080", count=count)])


def test_700_of_a_1000_port_range_is_critical():
    (f,) = network_findings(_net(700, (40000, 40999)), T)
    assert f.rule == "TIME_WAIT_EXHAUSTION" and f.severity is Severity.CRITICAL
    assert f.title == ("TIME_WAIT 700 vs 1 000 local ports (ip_local_port_range "
                       "40000–40999) — top remote: 10.0.0.5:8080 700")
    assert f.data["top_remote_count"] == 700 and f.data["port_range"] == 1000


def test_the_range_decides_between_warning_critical_and_nothing():
    assert network_findings(_net(300, (40000, 40999)), T)[0].severity is Severity.WARNING
    assert network_findings(_net(499, (40000, 40999)), T)[0].severity is Severity.WARNING
    assert network_findings(_net(500, (40000, 40999)), T)[0].severity is Severity.CRITICAL
    assert network_findings(_net(200, (40000, 40999)), T) == []  # 20 % < 25 %
    # the same 700 are nothing against the default 28 232 ports
    assert network_findings(_net(700, (32768, 60999)), T) == []
    # the user's ratio decides
    strict = T.model_copy(update={"time_wait_critical": 0.8})
    assert network_findings(_net(700, (40000, 40999)), strict)[0].severity is Severity.WARNING


def test_the_floor_is_only_for_noise():
    # 60 of a 100-port range: the range is nearly gone, but 60 sockets are below the
    # noise floor (time_wait_min, 100)
    assert network_findings(_net(60, (40000, 40099)), T) == []
    (f,) = network_findings(_net(60, (40000, 40099)),
                            T.model_copy(update={"time_wait_min": 50}))
    assert f.severity is Severity.CRITICAL
    # many sockets spread over other remotes do not make one remote's count
    assert network_findings(_net(150, (40000, 40999), others=5000), T) == []


@pytest.mark.root
async def test_700_time_wait_in_a_1000_port_range_on_a_live_host(host, tmp_path):
    """A real host whose netns has a 1 000-port ip_local_port_range, 700 loopback
    connections closed by the client: the capture says the range runs out."""
    host.time_wait_pileup(700, port_range=(41000, 41999))
    _, store, svc = await service_for(tmp_path, [host])
    try:
        v = (await svc.capture(svc.inventory.resolve([host.name])[0],
                               collectors=["network"])).snapshot
        assert v is not None
        net = v.parsed["network"]
        assert net["port_range"] == [41000, 41999]
        assert 630 <= net["time_wait"] < 1000
        (f,) = [f for f in v.finding_list if f.rule == "TIME_WAIT_EXHAUSTION"]
        assert f.severity == "critical"
        assert "vs 1 000 local ports (ip_local_port_range 41000–41999)" in f.title
        assert f.data["top_remote"].startswith("127.0.0.1:")
        assert 630 <= f.data["top_remote_count"] < 1000
    finally:
        await store.close()
