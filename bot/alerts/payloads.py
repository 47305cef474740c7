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
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
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

#: entries of one object of a body (an alert, its labels, annotations or
#: values, the envelope's maps); real alerts have tens. Each wrong entry is one
#: validation error: this bounds the work (and the errors) one body can cause.
MAX_ENTRIES = 1000
#: validation errors quoted back to the sender
SHOWN_ERRORS = 5
#: text PostgreSQL cannot store: NUL, and lone surrogates (not UTF-8)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: how either gets into a JSON body: as an escape (raw, it is not JSON or not UTF-8)
_ESCAPED = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def _utc(dt: datetime) -> datetime | None:
    """In UTC (naive: taken as UTC); None when that leaves the datetime range
    (year 9999 with a negative offset)."""
    try:
        return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    except OverflowError:
        return None


def _when(raw: str | None) -> datetime | None:
    """Alertmanager's 'not set' is the zero time 0001-01-01."""
    if not raw:
        return None
    try:
        dt = _utc(_DT.validate_python(raw))
    except ValidationError:
        return None
    return None if dt is None or dt.year <= 1 else dt


def _product(receiver: str, alerts: list[AMAlert]) -> list[Alert]:
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
        starts_at = _utc(a.starts_at) if a.starts_at else None
        # no start time: nothing tells a retry from a new incident, so each
        # delivery gets its own key and the host cooldown is the storm guard
        starts = starts_at.isoformat() if starts_at else "nonce:" + secrets.token_hex(8)
        annotations = {"summary": a.summary} if a.summary else {}
        out.append(Alert(receiver, a.status, fp, starts, starts_at, None, labels,
                         annotations, a.url))
    return out


_ENVELOPES: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "alertmanager": (AlertmanagerPayload, AMAlert),
    "grafana": (GrafanaPayload, GrafanaAlert),
    "generic": (GenericPayload, GenericAlert),
}


def parse(kind: str, receiver: str, body: bytes, *, max_alerts: int) -> list[Alert]:
    """The body's alerts, or Malformed with a message for the sender.

    Bounded work whatever the body: the alerts are counted before any is
    validated, objects with too many entries are refused before validation,
    and validation stops once SHOWN_ERRORS errors are known (a 1 MB body of
    250 000 empty alerts used to build every one of its million errors)."""
    doc = _load(body)
    envelope, alert_model = _ENVELOPES[kind]
    if not isinstance(doc, dict):
        raise Malformed("body: Input should be an object")
    if kind == "generic" and "alerts" not in doc:
        doc = {"alerts": [doc]}  # one alert object, or {"alerts": [...]}
    items = doc.get("alerts")
    if isinstance(items, list) and len(items) > max_alerts:
        raise Malformed(f"{len(items)} alerts in one webhook, more than {max_alerts} "
                        "(alerts.max_alerts); set max_alerts at the sender")
    _bounded(doc, "")
    errors: list[str] = []
    total = 0
    # the envelope without its alerts, then the alerts one by one
    shell = {**doc, "alerts": []} if isinstance(items, list) else doc
    try:
        envelope.model_validate(shell)
    except ValidationError as e:
        total += e.error_count()
        errors += _explain(e, "")
    alerts: list[Any] = []
    stopped = False
    for i, item in enumerate(items if isinstance(items, list) else []):
        if len(errors) >= SHOWN_ERRORS:
            stopped = True
            break
        if isinstance(item, dict):
            _bounded(item, f"alerts.{i}.")
        try:
            alerts.append(alert_model.model_validate(item))
        except ValidationError as e:
            total += e.error_count()
            errors += _explain(e, f"alerts.{i}.")
    if errors:
        more = [f"+{total - SHOWN_ERRORS} more"] if total > SHOWN_ERRORS else []
        if stopped:
            more.append("later alerts not checked")
        raise Malformed("; ".join(errors[:SHOWN_ERRORS])
                        + (f" ({', '.join(more)})" if more else ""))
    if kind == "generic":
        return _generic(receiver, alerts)
    return _product(receiver, alerts)


def _load(body: bytes) -> Any:
    """The JSON document, with NUL and lone surrogates (which JSON allows as
    \\u0000 and \\ud800, and PostgreSQL cannot store) replaced by U+FFFD: the
    rest of the alert, and the other alerts of the webhook, are still recorded
    (refused, the whole body would fail, good alerts included; pydantic's
    parser refuses lone surrogates, so the standard library's is used)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Malformed(f"body is not UTF-8 (byte {e.start})") from None
    try:
        doc = json.loads(text)
        return _clean(doc) if _ESCAPED.search(text) else doc
    except json.JSONDecodeError as e:
        raise Malformed(f"body is not JSON: {e}") from None
    except RecursionError:  # 100 000 nested [
        raise Malformed("body is not JSON we accept: nested too deeply") from None
    except ValueError as e:  # a 5000-digit number
        raise Malformed(f"body is not JSON we accept: {str(e)[:100]}") from None


def _clean(doc: Any) -> Any:
    """`doc` with every string (keys too) storable; iterative: as deep as
    json.loads goes."""
    fix = _UNSTORABLE.sub
    root: list[Any] = [doc]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        value = parent[key]
        if isinstance(value, str):
            parent[key] = fix("\ufffd", value)
        elif isinstance(value, list):
            stack.extend((value, i) for i in range(len(value)))
        elif isinstance(value, dict):
            new = {fix("\ufffd", k): v for k, v in value.items()}
            parent[key] = new
            stack.extend((new, k) for k in new)
    return root[0]


def shown(key: object) -> str:
    """A key of the sender's as it may appear in an error message (and the
    log): one line, no control characters, at most 64 characters of it."""
    s = str(key)[:64]
    return s if s and s.isprintable() and s.strip() == s and "." not in s else json.dumps(s)


def _bounded(obj: dict[str, Any], where: str) -> None:
    """An object and the objects in it have at most MAX_ENTRIES entries each
    (deeper levels need no check: a wrong value is one error, whatever is in it)."""
    for key, value in [("", obj), *obj.items()]:
        if isinstance(value, dict) and len(value) > MAX_ENTRIES:
            name = f"{where}{shown(key)}" if key else (where.rstrip(".") or "body")
            raise Malformed(f"{name}: {len(value)} entries, more than {MAX_ENTRIES}")


def _explain(e: ValidationError, where: str) -> list[str]:
    # errors() builds a dict per error: taken only once their number is bounded
    out = []
    for err in e.errors(include_url=False)[:SHOWN_ERRORS]:
        loc = where + ".".join(shown(p) for p in err["loc"])
        out.append(f"{loc.rstrip('.') or 'body'}: {err['msg']}")
    return out
