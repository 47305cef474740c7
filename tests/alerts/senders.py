"""Webhook bodies as Alertmanager (v4) and Grafana (unified alerting) send
them, and a client that posts them to the bot with the receivers' credentials.

The bodies follow what the products put on the wire: Alertmanager's Go
RFC3339Nano timestamps, the zero time for "not ended", groupKey as the route
path plus group labels; Grafana's orgId/state/title/message and per-alert
values/valueString, silence and dashboard links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.settings.alerts import AlertSettings, Receiver, Route

AM_TOKEN = "am-token-5f2b9c7e0d1a4e63"
GRAFANA_SECRET = "grafana-hmac-secret-8e41"
GRAFANA_TS_HEADER = "X-Grafana-Alerting-Signature-Timestamp"
BASIC_USER, BASIC_PASSWORD = "hooks", "generic-pass-77c1"
ZERO_TIME = "0001-01-01T00:00:00Z"

# what Alertmanager sent for a real grouped notification (values changed)
ALERTMANAGER_GROUPED = """{
  "receiver": "hostsnap",
  "status": "firing",
  "alerts": [
    {
      "status": "firing",
      "labels": {"alertname": "HostThreadsNearLimit", "instance": "localhost:9100",
                 "job": "node", "severity": "critical", "team": "platform"},
      "annotations": {"summary": "threads at 94% of the limit on localhost:9100",
                      "description": "threads-max is almost reached; fork will fail next"},
      "startsAt": "2026-11-23T12:58:41.317468712Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prometheus:9090/graph?g0.expr=node_processes_threads+%2F+node_processes_max_threads+%3E+0.9&g0.tab=1",
      "fingerprint": "7c4e1d2b9a03f518"
    },
    {
      "status": "firing",
      "labels": {"alertname": "HostThreadsNearLimit", "instance": "10.99.0.7:9100",
                 "job": "node", "severity": "critical", "team": "platform"},
      "annotations": {"summary": "threads at 97% of the limit on 10.99.0.7:9100",
                      "description": "threads-max is almost reached; fork will fail next"},
      "startsAt": "2026-11-23T12:58:41.317468712Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prometheus:9090/graph?g0.expr=node_processes_threads+%2F+node_processes_max_threads+%3E+0.9&g0.tab=1",
      "fingerprint": "0b9f6ad3c2e47e11"
    }
  ],
  "groupLabels": {"alertname": "HostThreadsNearLimit"},
  "commonLabels": {"alertname": "HostThreadsNearLimit", "job": "node",
                   "severity": "critical", "team": "platform"},
  "commonAnnotations": {"description": "threads-max is almost reached; fork will fail next"},
  "externalURL": "http://alertmanager:9093",
  "version": "4",
  "groupKey": "{}/{severity=\\"critical\\"}:{alertname=\\"HostThreadsNearLimit\\"}",
  "truncatedAlerts": 0
}"""


def rfc3339nano(t: float) -> str:
    """Go's time.RFC3339Nano in UTC, as Alertmanager writes it."""
    secs = int(t)
    frac = f"{t - secs:.9f}"[2:].rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + (f".{frac}" if frac else "") + "Z"


def fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def am_alert(alertname: str, *, instance: str | None = None, severity: str = "critical",
             status: str = "firing", starts: float = 1_795_000_000.25,
             ends: float | None = None, **labels: str) -> dict[str, Any]:
    lab = {"alertname": alertname, "job": "node", "severity": severity, **labels}
    if instance is not None:
        lab["instance"] = instance
    return {
        "status": status, "labels": lab,
        "annotations": {"summary": f"{alertname} on {instance or labels}",
                        "runbook_url": "https://runbooks.example/threads"},
        "startsAt": rfc3339nano(starts),
        "endsAt": rfc3339nano(ends) if ends else ZERO_TIME,
        "generatorURL": f"http://prometheus:9090/graph?g0.expr={alertname}&g0.tab=1",
        "fingerprint": fingerprint(lab),
    }


def am_payload(*alerts: dict[str, Any], receiver: str = "hostsnap") -> dict[str, Any]:
    """A v4 notification of one group: common labels are what all alerts share."""
    common = dict(alerts[0]["labels"])
    for a in alerts[1:]:
        common = {k: v for k, v in common.items() if a["labels"].get(k) == v}
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    group = {"alertname": common["alertname"]} if "alertname" in common else {}
    return {
        "receiver": receiver, "status": status, "alerts": list(alerts),
        "groupLabels": group, "commonLabels": common,
        "commonAnnotations": {"runbook_url": "https://runbooks.example/threads"},
        "externalURL": "http://alertmanager:9093", "version": "4",
        "groupKey": "{}:{" + ",".join(f'{k}="{v}"' for k, v in group.items()) + "}",
        "truncatedAlerts": 0,
    }


def resolved(alert: dict[str, Any], ends: float = 1_795_000_600.5) -> dict[str, Any]:
    """The same alert as Alertmanager sends it once resolved: same fingerprint
    and startsAt, endsAt set."""
    return {**alert, "status": "resolved", "endsAt": rfc3339nano(ends)}


def grafana_payload(alertname: str, *, instance: str, status: str = "firing",
                    severity: str = "critical", starts: str = "2026-11-23T12:58:40Z",
                    ends: str = ZERO_TIME, value: float = 31802) -> dict[str, Any]:
    labels = {"alertname": alertname, "grafana_folder": "Hosts", "instance": instance,
              "severity": severity}
    fp = fingerprint(labels)
    firing = status == "firing"
    return {
        "receiver": "hostsnap-webhook", "status": status, "orgId": 1,
        "alerts": [{
            "status": status, "labels": labels,
            "annotations": {"summary": f"{alertname}: {value:g} threads on {instance}"},
            "startsAt": starts, "endsAt": ends,
            "generatorURL": "https://grafana.example/alerting/grafana/cdzl8t1/view?orgId=1",
            "fingerprint": fp,
            "silenceURL": "https://grafana.example/alerting/silence/new?alertmanager=grafana"
                          f"&matcher=alertname%3D{alertname}&orgId=1",
            "dashboardURL": "https://grafana.example/d/hosts?orgId=1",
            "panelURL": "https://grafana.example/d/hosts?orgId=1&viewPanel=4",
            "values": {"B": value, "C": 1 if firing else 0},
            "valueString": f"[ var='B' labels={{instance={instance}}} value={value:g} ], "
                           f"[ var='C' labels={{instance={instance}}} value={1 if firing else 0} ]",
        }],
        "groupLabels": {"alertname": alertname, "grafana_folder": "Hosts"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": f"{alertname}: {value:g} threads on {instance}"},
        "externalURL": "https://grafana.example/",
        "version": "1",
        "groupKey": '{}/{__grafana_autogenerated__="true"}/{__grafana_receiver__="hostsnap-webhook"}:'
                    f'{{alertname="{alertname}", grafana_folder="Hosts"}}',
        "truncatedAlerts": 0,
        "title": f"[{'FIRING' if firing else 'RESOLVED'}:1] {alertname} Hosts ({instance} {severity})",
        "state": "alerting" if firing else "ok",
        "message": f"**{'Firing' if firing else 'Resolved'}**\n\nValue: B={value:g}\nLabels:\n"
                   f" - alertname = {alertname}\n - instance = {instance}\n",
    }


def receivers() -> list[Receiver]:
    return [
        Receiver(name="am", kind="alertmanager", auth="bearer", token=AM_TOKEN),
        Receiver(name="grafana", kind="grafana", auth="hmac", secret=GRAFANA_SECRET,
                 timestamp_header=GRAFANA_TS_HEADER),
        Receiver(name="hooks", kind="generic", auth="basic", username=BASIC_USER,
                 password=BASIC_PASSWORD),
    ]


COLLECTORS = ["limits", "memory", "network"]


def routes() -> list[Route]:
    """critical thread/fork alerts -> CINC; payments -> CPAY; warnings warm only."""
    return [
        Route(name="threads", alertname=["HostThreadsNearLimit", "ForkFailing"],
              severity=["critical"], collectors=COLLECTORS, channel="CINC"),
        Route(name="payments", alertname_re="Payments.*", match={"team": "payments"},
              collectors=COLLECTORS, channel="CPAY"),
        Route(name="early-warning", severity=["warning"], capture=False, warm=True),
    ]


def alert_settings(**kw: Any) -> AlertSettings:
    opts: dict[str, Any] = dict(receivers=receivers(), routes=routes(), cooldown=600,
                                budget_per_minute=20, concurrency=4)
    opts.update(kw)
    return AlertSettings(**opts)


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    elapsed: float

    @property
    def outcomes(self) -> list[str]:
        return [a["outcome"] for a in self.body.get("alerts", [])]

    @property
    def error(self) -> str:
        return str(self.body.get("error", ""))


class Sender:
    """Posts webhooks to one bot replica, signed/authenticated like the products."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{port}"

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        t0 = time.perf_counter()
        async with self.session.post(self.base + path, data=body, headers=headers) as r:
            text = await r.text()
            elapsed = time.perf_counter() - t0
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = {"raw": text}
            return Reply(r.status, parsed, elapsed)

    async def am(self, payload: dict[str, Any] | str, *, token: str = AM_TOKEN) -> Reply:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return await self.post("/alerts/am", body.encode(), {
            "Content-Type": "application/json", "User-Agent": "Alertmanager/0.27.0",
            "Authorization": f"Bearer {token}"})

    async def grafana(self, payload: dict[str, Any], *, secret: str = GRAFANA_SECRET,
                      ts: int | None = None) -> Reply:
        body = json.dumps(payload).encode()
        stamp = str(int(time.time()) if ts is None else ts)
        sig = hmac.new(secret.encode(), stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        return await self.post("/alerts/grafana", body, {
            "Content-Type": "application/json", "User-Agent": "Grafana",
            "X-Grafana-Alerting-Signature": sig, GRAFANA_TS_HEADER: stamp})

    async def generic(self, payload: dict[str, Any], *, password: str = BASIC_PASSWORD) -> Reply:
        cred = base64.b64encode(f"{BASIC_USER}:{password}".encode()).decode()
        return await self.post("/alerts/hooks", json.dumps(payload).encode(), {
            "Content-Type": "application/json", "Authorization": f"Basic {cred}"})
