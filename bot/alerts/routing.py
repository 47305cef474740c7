"""Routes: the first whose every condition holds decides what an alert does."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.alerts.payloads import Alert
from bot.settings.alerts import AlertSettings, Route


@dataclass(frozen=True)
class Decision:
    route: Route
    name: str
    channel: str | None


class _Compiled:
    def __init__(self, route: Route) -> None:
        self.route = route
        self.alertname_re = re.compile(route.alertname_re) if route.alertname_re else None
        self.match_re = {k: re.compile(v) for k, v in route.match_re.items()}

    def matches(self, alert: Alert) -> bool:
        r, labels = self.route, alert.labels
        if r.receivers and alert.receiver not in r.receivers:
            return False
        if r.alertname and alert.alertname not in r.alertname:
            return False
        if self.alertname_re and not self.alertname_re.fullmatch(alert.alertname):
            return False
        if r.severity and alert.severity not in r.severity:
            return False
        if any(labels.get(k) != v for k, v in r.match.items()):
            return False
        # a missing label matches like "" does (Alertmanager's rule)
        return all(rx.fullmatch(labels.get(k, "")) for k, rx in self.match_re.items())


class Router:
    def __init__(self, settings: AlertSettings) -> None:
        self.default_channel = settings.channel
        self.routes = [_Compiled(r) for r in settings.routes]

    def route(self, alert: Alert) -> Decision | None:
        for i, c in enumerate(self.routes):
            if c.matches(alert):
                r = c.route
                return Decision(r, r.name or f"route {i + 1}", r.channel or self.default_channel)
        return None
