"""Webhook bodies as the products send them, validated, and normalized into
one `Alert` each.

Alertmanager: webhook payload version 4. Grafana (unified alerting): the same
shape plus orgId/title/state/message and per-alert values. Generic: our own
small form, documented in the README. Unknown fields are ignored for the two
products (they add fields over time) and refused in the generic form (a typo
there should be an error, not a silently missing host).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

Status = Literal["firing", "resolved"]
Labels = dict[str, str]


class Malformed(Exception):
    """The body is not what the receiver's kind sends; the message says where."""


@dataclass(frozen=True)
class Alert:
    """One alert of a webhook, whatever sent it."""

    receiver: str
    status: str
    fingerprint: str
    #: as sent: part of the delivery key (HA senders send identical strings)
    starts_raw: str
    starts_at: datetime | None
    ends_at: datetime | None
    labels: Labels
    annotations: Labels = field(default_factory=dict)
    url: str = ""
    #: Grafana's evaluated values ("[ var='B' ... value=44 ]")
    values: str = ""

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def summary(self) -> str:
        a = self.annotations
        return a.get("summary") or a.get("description") or a.get("message") or ""

    @property
    def key(self) -> str:
        """The delivery key: one alert instance in one state. A repeated
        delivery (retries, HA pairs, a group re-sent with one more alert) has
        the same key and is captured once; the database enforces it."""
        raw = "\x00".join((self.fingerprint, self.starts_raw, self.status))
        return hashlib.sha256(raw.encode()).hexdigest()


def labels_fingerprint(labels: Labels) -> str:
    """A stable id of a label set (Alertmanager computes its own the same way:
    a hash of the sorted labels)."""
    raw = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


# -- Alertmanager and Grafana --------------------------------------------------------
class _Product(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AMAlert(_Product):
    status: Status
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    startsAt: str = Field(min_length=1, max_length=64)
    endsAt: str | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1, max_length=128)


class AlertmanagerPayload(_Product):
    version: Literal["4"]
    groupKey: str
    truncatedAlerts: int = 0
    status: Status
    receiver: str
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Labels = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AMAlert]


class GrafanaAlert(AMAlert):
    silenceURL: str = ""
    dashboardURL: str = ""
    panelURL: str = ""
    imageURL: str = ""
    values: dict[str, float | None] | None = None
    valueString: str = ""


class GrafanaPayload(_Product):
    receiver: str
    status: Status
    orgId: int
    alerts: list[GrafanaAlert]
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Labels = Field(default_factory=dict)
    externalURL: str = ""
    version: str = "1"
    groupKey: str = ""
    truncatedAlerts: int = 0
    title: str = ""
    state: str = ""
    message: str = ""


# -- generic -------------------------------------------------------------------------
class GenericAlert(BaseModel):
    """See README, "Automatic capture on alerts"."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    status: Status = "firing"
    host: str | None = Field(default=None, max_length=253)
    severity: str | None = Field(default=None, max_length=64)
    labels: Labels = Field(default_factory=dict)
    summary: str = Field(default="", max_length=3000)
    url: str = Field(default="", max_length=2000)
    #: default: a hash of name, host, severity and labels
    fingerprint: str | None = Field(default=None, min_length=1, max_length=128)
    #: without it every delivery is new: only the host cooldown holds a storm back
    starts_at: datetime | None = None


class GenericPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alerts: list[GenericAlert]


_DT: TypeAdapter[datetime] = TypeAdapter(datetime)


def _when(raw: str | None) -> datetime | None:
    """Alertmanager's 'not set' is the zero time 0001-01-01."""
    if not raw:
        return None
    try:
        dt = _DT.validate_python(raw)
    except ValidationError:
        return None
    return None if dt.year <= 1 else dt


def _explain(e: ValidationError) -> str:
    errs = e.errors(include_url=False)
    if errs and errs[0]["type"] == "json_invalid":
        return f"body is not JSON: {errs[0]['ctx'].get('error', 'invalid')}"
    parts = []
    for err in errs[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{loc}: {err['msg']}")
    more = f" (+{len(errs) - 3} more)" if len(errs) > 3 else ""
    return "; ".join(parts) + more


def _product(receiver: str, alerts: list[AMAlert] | list[GrafanaAlert]) -> list[Alert]:
    out = []
    for a in alerts:
        values = a.valueString if isinstance(a, GrafanaAlert) else ""
        out.append(Alert(receiver, a.status, a.fingerprint, a.startsAt.strip(),
                         _when(a.startsAt), _when(a.endsAt), dict(a.labels),
                         dict(a.annotations), a.generatorURL, values))
    return out


def _generic(receiver: str, alerts: list[GenericAlert]) -> list[Alert]:
    out = []
    for a in alerts:
        labels = {**a.labels, "alertname": a.name}
        if a.host:
            labels["host"] = a.host
        if a.severity:
            labels["severity"] = a.severity
        fp = a.fingerprint or labels_fingerprint(labels)
        # no start time: nothing tells a retry from a new incident, so each
        # delivery gets its own key and the host cooldown is the storm guard
        starts = a.starts_at.isoformat() if a.starts_at else "nonce:" + secrets.token_hex(8)
        annotations = {"summary": a.summary} if a.summary else {}
        out.append(Alert(receiver, a.status, fp, starts, a.starts_at, None, labels,
                         annotations, a.url))
    return out


def parse(kind: str, receiver: str, body: bytes, *, max_alerts: int) -> list[Alert]:
    """The body's alerts, or Malformed with a message for the sender."""
    try:
        if kind == "alertmanager":
            am = AlertmanagerPayload.model_validate_json(body)
            alerts = _product(receiver, am.alerts)
        elif kind == "grafana":
            gf = GrafanaPayload.model_validate_json(body)
            alerts = _product(receiver, gf.alerts)
        else:
            alerts = _generic(receiver, _generic_payload(body).alerts)
    except ValidationError as e:
        raise Malformed(_explain(e)) from None
    if len(alerts) > max_alerts:
        raise Malformed(f"{len(alerts)} alerts in one webhook, more than {max_alerts} "
                        "(alerts.max_alerts); set max_alerts at the sender")
    return alerts


def _generic_payload(body: bytes) -> GenericPayload:
    """One alert object, or {"alerts": [...]}."""
    doc: Any = _JSON.validate_json(body)
    if isinstance(doc, dict) and "alerts" not in doc:
        doc = {"alerts": [doc]}
    return GenericPayload.model_validate(doc)


_JSON: TypeAdapter[Any] = TypeAdapter(Any)
