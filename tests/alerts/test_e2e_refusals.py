"""Webhooks that must capture nothing: bad credentials or signatures, wrong
content type, oversized or malformed bodies, hosts outside the inventory.
Each gets a clear 4xx (or a recorded, answered refusal) and no host is contacted."""

from __future__ import annotations

import json
import re
import time

import pytest
from sqlalchemy.exc import OperationalError

from tests.alerts.conftest import Replica, count_alerts
from tests.alerts.senders import (
    AM_TOKEN,
    GRAFANA_TS_HEADER,
    alert_settings,
    am_alert,
    am_payload,
    grafana_payload,
)
from tests.fakeslack import FakeSlack

GOOD = am_payload(am_alert("HostThreadsNearLimit", instance="localhost:9100"))
JSON = {"Content-Type": "application/json"}
BEARER = {"Authorization": f"Bearer {AM_TOKEN}"}


async def test_bad_requests_get_clear_errors_and_capture_nothing(replicas,
                                                                 fake: FakeSlack) -> None:
    bot: Replica = await replicas(alert_settings(max_body=64 * 1024))
    send = bot.send
    body = json.dumps(GOOD).encode()

    r = await send.post("/alerts/pagerduty", body, {**JSON, **BEARER})
    assert (r.status, r.error) == (404, "no alert receiver named 'pagerduty'")

    r = await send.post("/alerts/am", body, JSON)
    assert (r.status, r.error) == (401, "authentication required: Authorization: Bearer <token>")
    r = await send.am(GOOD, token="am-token-guessed")
    assert (r.status, r.error) == (403, "wrong bearer token")
    r = await send.generic({"name": "X", "host": "localhost"}, password="nope")
    assert (r.status, r.error) == (403, "wrong username or password")

    grafana = grafana_payload("ForkFailing", instance="localhost:9100")
    r = await send.grafana(grafana, secret="not-the-secret")
    assert (r.status, r.error) == (403, "signature does not match the body")
    r = await send.grafana(grafana, ts=int(time.time()) - 3600)  # a captured request, replayed
    assert r.status == 403
    assert re.fullmatch(r"signature timestamp is 360[01] s away from this server's clock "
                        r"\(replay window 300 s\)", r.error), r.error
    r = await send.post("/alerts/grafana", json.dumps(grafana).encode(), JSON)
    assert (r.status, r.error) == (401, "authentication required: signature header "
                                        "X-Grafana-Alerting-Signature")
    r = await send.post("/alerts/grafana", json.dumps(grafana).encode(), {
        **JSON, "X-Grafana-Alerting-Signature": "00" * 32})
    assert (r.status, r.error) == (401, f"authentication required: timestamp header "
                                        f"{GRAFANA_TS_HEADER}")

    r = await send.post("/alerts/am", body, {"Content-Type": "text/plain", **BEARER})
    assert (r.status, r.error) == (415, "Content-Type must be application/json, not text/plain")

    big = json.dumps(am_payload(*[am_alert("HostThreadsNearLimit", instance=f"h{i}:9100")
                                  for i in range(400)])).encode()
    assert len(big) > 64 * 1024
    r = await send.post("/alerts/am", big, {**JSON, **BEARER})
    assert (r.status, r.error) == (413, "body larger than 65536 bytes (alerts.max_body)")

    async def chunked():  # no Content-Length: cut off while reading
        for i in range(0, len(big), 8192):
            yield big[i:i + 8192]

    async with send.session.post(send.base + "/alerts/am", data=chunked(),
                                 headers={**JSON, **BEARER}) as resp:
        assert resp.status == 413
    r = await send.post("/alerts/am", big, JSON)  # unauthenticated: never read at all
    assert r.status == 401

    r = await send.am('{"receiver": "hostsnap", "status": "firing", "alerts": [')
    assert r.status == 400 and r.error.startswith("body is not JSON: ")
    r = await send.am({**GOOD, "version": "3"})
    assert (r.status, r.error) == (400, "version: Input should be '4'")
    bad_alert = {k: v for k, v in GOOD["alerts"][0].items() if k != "fingerprint"}
    r = await send.am({**GOOD, "alerts": [bad_alert]})
    assert (r.status, r.error) == (400, "alerts.0.fingerprint: Field required")
    r = await send.grafana({k: v for k, v in grafana.items() if k != "orgId"})
    assert (r.status, r.error) == (400, "orgId: Field required")

    await bot.idle()
    assert await count_alerts(bot.store) == 0  # nothing recorded...
    assert await bot.snapshots() == 0  # ...nothing captured...
    assert not fake.calls_of("chat.postMessage")  # ...nothing said
    async with send.session.get(send.base + "/metrics") as m:
        metrics = await m.text()
    assert 'hostsnap_alert_rejected_total{reason="forbidden",receiver="am"} 1' in metrics
    assert 'hostsnap_alert_rejected_total{reason="too_large",receiver="am"} 2' in metrics

    # and the right credentials still work
    assert (await send.am(GOOD)).outcomes == ["capturing"]


async def test_hosts_outside_the_inventory_are_recorded_never_contacted(replicas,
                                                                        fake: FakeSlack) -> None:
    bot: Replica = await replicas(settings={"allow_localhost": False,
                                            "allow_patterns": ["*"]})
    r = await bot.send.am(am_payload(
        am_alert("HostThreadsNearLimit", instance="localhost:9100"),
        am_alert("HostThreadsNearLimit", instance="10.20.30.40:9100"),
        am_alert("HostThreadsNearLimit", host="web-03; reboot"),
        am_alert("HostThreadsNearLimit", pod="push-7d9f4-x2"),
        am_alert("HostThreadsNearLimit", job="blackbox")))
    assert r.status == 200
    assert r.outcomes == ["unknown_host"] * 4 + ["no_host"]
    assert r.body["alerts"][0]["detail"] == ("instance=localhost: not in the inventory; "
                                             "recorded, nothing contacted")
    assert r.body["alerts"][4]["detail"].startswith("no label names a host (host, hostname, ")
    await bot.idle()
    assert await bot.snapshots() == 0 and not fake.calls_of("chat.postMessage")
    assert sorted(a.outcome for a in await bot.alert_rows()) == ["no_host"] + ["unknown_host"] * 4
    refused = [a for a in await bot.store.audit_events(action="refused")]
    assert sorted(a.target for a in refused) == [
        "host=web-03; reboot", "instance=10.20.30.40", "instance=localhost", "pod=push-7d9f4-x2"]


async def test_a_missing_secret_stops_serve_at_start(replicas, monkeypatch) -> None:
    from bot.settings.alerts import Receiver
    from bot.slack.serve import ServeError

    monkeypatch.delenv("T_NOT_SET_TOKEN", raising=False)
    settings = alert_settings(receivers=[Receiver(name="am", kind="alertmanager", auth="bearer",
                                                  token_env="T_NOT_SET_TOKEN")])
    with pytest.raises(ServeError, match=r"alert receiver 'am': token comes from "
                                         r"\$T_NOT_SET_TOKEN, which is not set"):
        await replicas(settings)


async def test_database_trouble_is_503_and_the_retry_is_decided(replicas, fake: FakeSlack,
                                                              monkeypatch) -> None:
    bot: Replica = await replicas()
    ledger = bot.alerts.ledger
    real = ledger.claim

    async def broken(*a, **kw):  # type: ignore[no-untyped-def]
        raise OperationalError("UPDATE alert_cooldowns", {}, Exception("server closed the connection"))

    monkeypatch.setattr(ledger, "claim", broken)
    r = await bot.send.am(GOOD)
    assert (r.status, r.error) == (503, "database unavailable; nothing was recorded, retry later")
    assert await count_alerts(bot.store) == 0
    monkeypatch.setattr(ledger, "claim", real)
    r = await bot.send.am(GOOD)  # Alertmanager retries a 5xx: decided now, not a duplicate
    assert r.outcomes == ["capturing"]
    await bot.idle()
