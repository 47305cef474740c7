"""A few Prometheus metrics, in the text exposition format, without a client
library: counters, gauges and one latency histogram are all /metrics needs.
Thread-safe: acks are timed on the front door's thread (bot/slack/front.py)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator

Labels = tuple[tuple[str, str], ...]

# Slack wants an ack within 3 s; these buckets show how far from it we are.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 3.0)

HELP = {
    "hostsnap_slack_requests_total": ("counter", "Slack requests received, by kind"),
    "hostsnap_slack_ack_seconds": ("histogram", "Time from a Slack request to its ack"),
    "hostsnap_slack_api_calls_total": ("counter", "Slack Web API calls, by method and outcome"),
    "hostsnap_slack_captures_total": ("counter", "Captures started from Slack, by final status"),
    "hostsnap_slack_refusals_total": ("counter", "Requests refused (authz or bad input)"),
    "hostsnap_slack_pending_posts": ("gauge", "Messages waiting for Slack to be reachable"),
    "hostsnap_warm_sessions": ("gauge", "Warm SSH sessions this process keeps (watch, holds)"),
    "hostsnap_warm_sessions_connected": ("gauge", "Warm SSH sessions connected right now"),
}


def _labels(kw: dict[str, str]) -> Labels:
    return tuple(sorted(kw.items()))


def _fmt(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = labels + extra
    if not items:
        return ""
    body = ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                    for k, v in items)
    return "{" + body + "}"


class Metrics:
    def __init__(self) -> None:
        self.counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self.gauges: dict[str, Callable[[], float] | float] = {}
        self.hist: dict[str, dict[Labels, list[float]]] = defaultdict(dict)
        self.hist_sum: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._lock = threading.Lock()

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            self.counters[name][key] = self.counters[name].get(key, 0.0) + value

    def gauge(self, name: str, value: Callable[[], float] | float) -> None:
        with self._lock:
            self.gauges[name] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            counts = self.hist[name].setdefault(key, [0.0] * (len(ACK_BUCKETS) + 1))
            for i, bound in enumerate(ACK_BUCKETS):
                if value <= bound:
                    counts[i] += 1
            counts[-1] += 1  # +Inf, also the count
            self.hist_sum[name][key] = self.hist_sum[name].get(key, 0.0) + value

    @contextlib.contextmanager
    def timer(self, name: str, **labels: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.observe(name, time.perf_counter() - t0, **labels)

    def render(self) -> str:
        with self._lock:
            return self._render()

    def _render(self) -> str:
        out: list[str] = []

        def head(name: str, kind: str) -> None:
            out.append(f"# HELP {name} {HELP.get(name, (kind, name))[1]}")
            out.append(f"# TYPE {name} {kind}")

        for name, series in sorted(self.counters.items()):
            head(name, "counter")
            out += [f"{name}{_fmt(k)} {v:g}" for k, v in sorted(series.items())]
        for name, g in sorted(self.gauges.items()):
            head(name, "gauge")
            out.append(f"{name} {(g() if callable(g) else g):g}")
        for name, hseries in sorted(self.hist.items()):
            head(name, "histogram")
            for k, counts in sorted(hseries.items()):
                for bound, c in zip(ACK_BUCKETS, counts, strict=False):
                    out.append(f"{name}_bucket{_fmt(k, (('le', f'{bound:g}'),))} {c:g}")
                out.append(f"{name}_bucket{_fmt(k, (('le', '+Inf'),))} {counts[-1]:g}")
                out.append(f"{name}_sum{_fmt(k)} {self.hist_sum[name][k]:.6f}")
                out.append(f"{name}_count{_fmt(k)} {counts[-1]:g}")
        return "\n".join(out) + "\n"
