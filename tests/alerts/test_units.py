"""The pure parts: payload schemas, authentication, host lookup, routing,
settings. Fast; the HTTP and Slack side is in test_e2e_*.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from pydantic import ValidationError

from bot.alerts.auth import Authenticator, Rejected
from bot.alerts.hosts import HostFinder, strip_port
from bot.alerts.payloads import Malformed, parse
from bot.alerts.routing import Router
from bot.config import HostEntry, Settings
from bot.inventory import Inventory
from bot.settings.alerts import AlertConfigError, AlertSettings, Receiver, Route
from tests.alerts.senders import (
    ALERTMANAGER_GROUPED,
    AM_TOKEN,
    GRAFANA_SECRET,
    GRAFANA_TS_HEADER,
    alert_settings,
    am_alert,
    am_payload,
    grafana_payload,
    resolved,
)


def test_alertmanager_v4_grouped_payload() -> None:
    alerts = parse("alertmanager", "am", ALERTMANAGER_GROUPED.encode(), max_alerts=100)
    assert [a.labels["instance"] for a in alerts] == ["localhost:9100", "10.99.0.7:9100"]
    a = alerts[0]
    assert (a.alertname, a.severity, a.status) == ("HostThreadsNearLimit", "critical", "firing")
    assert a.fingerprint == "7c4e1d2b9a03f518"
    assert a.starts_at is not None and a.starts_at.microsecond == 317468  # nanoseconds cut
    assert a.ends_at is None  # Alertmanager's zero time means "not ended"
    assert a.summary.startswith("threads at 94%")
    assert a.url.startswith("http://prometheus:9090/graph")
    assert alerts[0].key != alerts[1].key


def test_resolved_is_a_different_delivery_of_the_same_alert() -> None:
    fired = am_alert("HostThreadsNearLimit", instance="localhost:9100")
    one = parse("alertmanager", "am", json.dumps(am_payload(fired)).encode(), max_alerts=9)[0]
    again = parse("alertmanager", "am", json.dumps(am_payload(fired)).encode(), max_alerts=9)[0]
    done = parse("alertmanager", "am", json.dumps(am_payload(resolved(fired))).encode(),
                 max_alerts=9)[0]
    assert one.key == again.key  # a repeated delivery
    assert done.key != one.key and done.fingerprint == one.fingerprint
    assert done.ends_at is not None and done.status == "resolved"


def test_grafana_payload() -> None:
    body = json.dumps(grafana_payload("HostThreadsNearLimit", instance="web-03:9100")).encode()
    (a,) = parse("grafana", "grafana", body, max_alerts=9)
    assert a.labels["grafana_folder"] == "Hosts"
    assert "value=31802" in a.values
    assert a.url.startswith("https://grafana.example/alerting/")


def test_generic_single_object_or_list() -> None:
    (a,) = parse("generic", "hooks", json.dumps(
        {"name": "DiskFull", "host": "web-03", "severity": "critical",
         "starts_at": "2026-11-23T10:00:00Z", "summary": "98% used"}).encode(), max_alerts=9)
    assert a.labels == {"alertname": "DiskFull", "host": "web-03", "severity": "critical"}
    assert a.summary == "98% used" and a.status == "firing"
    b, c = parse("generic", "hooks", json.dumps({"alerts": [
        {"name": "X", "host": "h1"}, {"name": "X", "host": "h1"}]}).encode(), max_alerts=9)
    # no start time: nothing tells a retry from a new incident; each delivery is new
    assert b.fingerprint == c.fingerprint and b.key != c.key


@pytest.mark.parametrize(("kind", "body", "message"), [
    ("alertmanager", b"{not json", "body is not JSON"),
    ("alertmanager", b"[]", "Input should be an object"),
    ("alertmanager", json.dumps({**am_payload(am_alert("A")), "version": "3"}).encode(),
     "version: Input should be '4'"),
    ("alertmanager", json.dumps(am_payload({**am_alert("A"), "fingerprint": ""})).encode(),
     "alerts.0.fingerprint: String should have at least 1 character"),
    ("alertmanager", json.dumps(am_payload({**am_alert("A"), "status": "pending"})).encode(),
     "alerts.0.status: Input should be 'firing' or 'resolved'"),
    ("grafana", json.dumps({"receiver": "x", "status": "firing", "alerts": []}).encode(),
     "orgId: Field required"),
    ("generic", json.dumps({"name": "A", "hots": "web-03"}).encode(),
     "alerts.0.hots: Extra inputs are not permitted"),
])
def test_malformed_bodies_say_where(kind: str, body: bytes, message: str) -> None:
    with pytest.raises(Malformed) as e:
        parse(kind, "r", body, max_alerts=9)
    assert message in str(e.value)


def test_too_many_alerts() -> None:
    body = json.dumps(am_payload(*[am_alert("A", instance=f"h{i}") for i in range(5)])).encode()
    with pytest.raises(Malformed, match="5 alerts in one webhook, more than 4"):
        parse("alertmanager", "am", body, max_alerts=4)


# -- authentication -------------------------------------------------------------------
def _auth(**kw: object) -> Authenticator:
    return Authenticator.of(Receiver(name="r", kind="alertmanager", **kw))  # type: ignore[arg-type]


def test_bearer() -> None:
    a = _auth(auth="bearer", token=AM_TOKEN)
    a.check_headers({"Authorization": f"Bearer {AM_TOKEN}"})
    a.check_headers({"Authorization": f"bearer  {AM_TOKEN} "})
    with pytest.raises(Rejected) as e:
        a.check_headers({})
    assert e.value.status == 401 and e.value.headers == {"WWW-Authenticate": "Bearer"}
    with pytest.raises(Rejected) as e:
        a.check_headers({"Authorization": f"Bearer {AM_TOKEN}x"})
    assert (e.value.status, e.value.message) == (403, "wrong bearer token")


def test_basic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_HOOK_PW", "s3cret:with:colons")
    a = _auth(auth="basic", username="am", password_env="T_HOOK_PW")

    def basic(user: str, pw: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}

    a.check_headers(basic("am", "s3cret:with:colons"))
    for bad in (basic("am", "s3cret"), basic("root", "s3cret:with:colons"),
                {"Authorization": "Basic !!!"}):
        with pytest.raises(Rejected) as e:
            a.check_headers(bad)
        assert e.value.status == 403
    with pytest.raises(Rejected) as e:
        a.check_headers({"Authorization": f"Bearer {AM_TOKEN}"})
    assert e.value.status == 401


def test_grafana_hmac_with_and_without_timestamp() -> None:
    body = b'{"receiver":"x"}'
    plain = _auth(auth="hmac", secret=GRAFANA_SECRET)
    sig = hmac.new(GRAFANA_SECRET.encode(), body, hashlib.sha256).hexdigest()
    h = {"X-Grafana-Alerting-Signature": sig}
    plain.check_headers(h)
    plain.check_body(h, body)
    with pytest.raises(Rejected, match="signature does not match"):
        plain.check_body(h, body + b" ")
    with pytest.raises(Rejected) as e:
        plain.check_headers({})
    assert e.value.status == 401

    stamped = _auth(auth="hmac", secret=GRAFANA_SECRET, timestamp_header=GRAFANA_TS_HEADER,
                    replay_window=300)
    now = 1_795_000_000
    sig = hmac.new(GRAFANA_SECRET.encode(), f"{now}:".encode() + body,
                   hashlib.sha256).hexdigest()
    h = {"X-Grafana-Alerting-Signature": sig, GRAFANA_TS_HEADER: str(now)}
    stamped.check_headers(h, now=now + 299)
    stamped.check_body(h, body)
    with pytest.raises(Rejected, match="1000 s away from this server's clock"):
        stamped.check_headers(h, now=now + 1000)  # a replay, too late
    with pytest.raises(Rejected, match="signature does not match"):  # timestamp not signed
        stamped.check_body({**h, GRAFANA_TS_HEADER: str(now + 1)}, body)


def test_secret_from_an_unset_variable_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T_UNSET_TOKEN", raising=False)
    r = Receiver(name="am", kind="alertmanager", auth="bearer", token_env="T_UNSET_TOKEN")
    with pytest.raises(AlertConfigError, match=r"token comes from \$T_UNSET_TOKEN"):
        Authenticator.of(r)


# -- hosts and routes -----------------------------------------------------------------
def _finder(**settings: object) -> HostFinder:
    s = Settings(hosts=[
        HostEntry(name="web-03", address="10.0.3.13", labels={"containers": ["partner-*"]}),
        HostEntry(name="web-04", address="10.0.3.14", labels={"pods": ["push-7d9f*"]}),
        HostEntry(name="web-05", address="10.0.3.15", labels={"pods": ["push-7d9f*"]}),
    ], **settings)  # type: ignore[arg-type]
    a = AlertSettings()
    return HostFinder(Inventory(s), a.host_labels, a.workload_labels)


@pytest.mark.parametrize(("labels", "host", "via"), [
    ({"host": "web-03"}, "web-03", "host=web-03"),
    ({"instance": "10.0.3.14:9100"}, "web-04", "instance=10.0.3.14"),
    ({"instance": "web-03.prod.example.com:9100"}, "web-03", "instance=web-03.prod.example.com"),
    ({"nodename": "nope", "instance": "web-03:9100"}, "web-03", "instance=web-03"),
    ({"container": "partner-bridge"}, "web-03", "container=partner-bridge"),
    ({"instance": "localhost:9100"}, "localhost", "instance=localhost"),
])
def test_host_from_labels(labels: dict[str, str], host: str, via: str) -> None:
    m = _finder().find(labels)
    assert m.host is not None and (m.host.name, m.via) == (host, via)


def test_hosts_outside_the_inventory_are_never_selected() -> None:
    f = _finder(allow_localhost=False, allow_patterns=["*"])
    assert f.find({"instance": "10.9.9.9:9100"}).problem == "unknown_host"
    assert f.find({"host": "web-03; rm -rf /"}).problem == "unknown_host"
    assert f.find({"instance": "localhost:9100"}).problem == "unknown_host"
    assert f.find({"job": "node"}).problem == "no_host"
    m = f.find({"pod": "push-7d9f4-x2"})
    assert (m.problem, m.via) == ("ambiguous_host", "pod=push-7d9f4-x2 runs on web-04, web-05")


def test_strip_port() -> None:
    assert strip_port("10.0.3.13:9100") == "10.0.3.13"
    assert strip_port("[fe80::1]:9100") == "fe80::1"
    assert strip_port("fe80::1") == "fe80::1"
    assert strip_port("web-03") == "web-03"


def test_routes_first_match_wins() -> None:
    router = Router(alert_settings())

    def route(alert: dict[str, object], receiver: str = "am") -> str | None:
        (a,) = parse("alertmanager", receiver, json.dumps(am_payload(alert)).encode(),
                     max_alerts=9)
        d = router.route(a)
        return f"{d.name}->{d.channel}" if d else None

    assert route(am_alert("HostThreadsNearLimit", instance="x")) == "threads->CINC"
    assert route(am_alert("HostThreadsNearLimit", severity="warning")) == "early-warning->None"
    assert route(am_alert("PaymentsLatency", team="payments")) == "payments->CPAY"
    assert route(am_alert("PaymentsLatency", team="search")) is None
    assert route(am_alert("XPaymentsLatency", team="payments")) is None  # regex is anchored


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="route threads: no channel"):
        AlertSettings(routes=[Route(name="threads")])
    with pytest.raises(ValidationError, match="unknown collector nope"):
        Route(collectors=["nope"])
    with pytest.raises(ValidationError, match="unknown receiver pager"):
        AlertSettings(channel="C1", routes=[Route(receivers=["pager"])])
    with pytest.raises(ValidationError, match="bearer auth needs token"):
        Receiver(name="am", kind="alertmanager", auth="bearer")
    with pytest.raises(ValidationError):
        Route(match_re={"instance": "web-(["})
    with pytest.raises(ValidationError):
        Receiver(name="../x", kind="generic", auth="bearer", token="t")


def test_alerts_in_the_config_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import ConfigError, load_settings

    monkeypatch.setenv("T_AM_TOKEN", "from-the-environment")
    cfg = tmp_path / "hostsnap.toml"
    cfg.write_text("""
[alerts]
channel = "C0INC"
cooldown = 300

[[alerts.receivers]]
name = "alertmanager"
kind = "alertmanager"
auth = "bearer"
token_env = "T_AM_TOKEN"

[[alerts.routes]]
name = "threads"
alertname_re = "Host.*"
severity = ["critical"]
collectors = ["limits", "memory"]
""")
    s = load_settings(cfg)
    assert s.alerts.cooldown == 300 and s.alerts.routes[0].collectors == ["limits", "memory"]
    assert Authenticator.of(s.alerts.receivers[0]).secret == b"from-the-environment"
    cfg.write_text(cfg.read_text().replace('"Host.*"', '"Host(.*"'))
    with pytest.raises(ConfigError, match=r"line 14: alerts\.routes\.0\.alertname_re: "
                                          r"bad regex 'Host\(\.\*'"):
        load_settings(cfg)
